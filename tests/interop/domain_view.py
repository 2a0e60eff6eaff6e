"""A server-independent view of a domain, built only from REST reads, for comparing two servers."""
import requests_unixsocket


def _get(s, endpoint, path, domain, **params):
    r = s.get(endpoint + path, params={"domain": domain, **params})
    r.raise_for_status()
    return r.json()


def _attrs(s, endpoint, collection, obj_id, domain):
    out = {}
    for a in _get(s, endpoint, f"/{collection}/{obj_id}/attributes", domain, IncludeData=1)["attributes"]:
        one = _get(s, endpoint, f"/{collection}/{obj_id}/attributes/{a['name']}", domain)
        out[a["name"]] = {"type": one["type"], "shape": one["shape"], "value": one.get("value")}
    return out


def domain_view(endpoint, domain, auth=("test_user1", "test")):
    """Everything a client can see of a domain: groups, links, datasets, datatypes, attributes, ACLs — keyed by id."""
    s = requests_unixsocket.Session()  # speaks http:// and http+unix://
    s.auth = auth
    dom = _get(s, endpoint, "/", domain)
    root = dom["root"]
    view = {"root": root, "owner": dom["owner"], "class": dom["class"], "groups": {}, "datasets": {}, "datatypes": {}}
    todo, seen = [root], set()
    while todo:
        gid = todo.pop()
        if gid in seen:
            continue
        seen.add(gid)
        links = {}
        for link in _get(s, endpoint, f"/groups/{gid}/links", domain)["links"]:
            entry = {k: link[k] for k in ("class", "id", "h5path", "h5domain", "file") if k in link}
            links[link["title"]] = entry
            if link["class"] == "H5L_TYPE_HARD":
                tid = link["id"]
                if tid.startswith("g-"):
                    todo.append(tid)
                elif tid.startswith("d-") and tid not in view["datasets"]:
                    d = _get(s, endpoint, f"/datasets/{tid}", domain)
                    view["datasets"][tid] = {"type": d["type"], "shape": d["shape"],
                                             "attributes": _attrs(s, endpoint, "datasets", tid, domain)}
                elif tid.startswith("t-") and tid not in view["datatypes"]:
                    t = _get(s, endpoint, f"/datatypes/{tid}", domain)
                    view["datatypes"][tid] = {"type": t["type"],
                                              "attributes": _attrs(s, endpoint, "datatypes", tid, domain)}
        view["groups"][gid] = {"links": links, "attributes": _attrs(s, endpoint, "groups", gid, domain)}
    acls = _get(s, endpoint, "/acls", domain)["acls"]
    view["acls"] = {a["userName"]: {k: v for k, v in a.items() if k != "userName"} for a in acls}
    return view


def diff(a, b, path=""):
    """Paths where two JSON-like values differ, each with both sides (for readable assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: {a.get(k, '<missing>')!r} != {b.get(k, '<missing>')!r}")
            else:
                out.extend(diff(a[k], b[k], f"{path}/{k}"))
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
