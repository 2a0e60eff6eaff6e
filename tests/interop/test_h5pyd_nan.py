"""NaN and ±Infinity through h5pyd 1.0: attributes and fill values round-trip on HSDS 1.0.2 and hslambda alike,
and a domain HSDS wrote with NaN in its metadata opens through hslambda (its stored JSON holds bare ``NaN``)."""
import h5pyd
import numpy as np

from conftest import session


def open_file(server, domain, mode):
    return h5pyd.File(domain, mode, endpoint=server.endpoint, username="test_user1", password="test")


def test_nan_attributes_and_fill_values_round_trip(server, domain):
    with open_file(server, domain, "w") as f:
        f.attrs["_FillValue"] = np.float32("nan")
        f.attrs["limits"] = np.array([-np.inf, 0.0, np.inf])
        d = f.create_dataset("t", (4,), dtype="f4", fillvalue=np.nan)
        d.attrs["missing"] = np.nan
    with open_file(server, domain, "r") as f:
        assert np.isnan(f.attrs["_FillValue"])
        np.testing.assert_array_equal(f.attrs["limits"], [-np.inf, 0.0, np.inf])
        d = f["t"]
        assert np.isnan(d.fillvalue)
        assert np.isnan(d.attrs["missing"])
        assert np.isnan(d[:]).all()


def test_hsds_written_nan_metadata_opens_in_hslambda(hsds, stack, domain):
    with open_file(hsds, domain, "w") as f:
        f.attrs["nan"] = np.nan
        f.create_dataset("t", (3,), dtype="f8", fillvalue=np.nan)
    # HSDS writes attributes to storage lazily (~1 s later); a flush makes them durable now
    r = session().put(hsds.url("/"), params={"domain": domain, "flush": 1})
    assert r.status_code in (200, 204), r.text
    with open_file(stack, domain, "r") as f:  # GET /?getobjs=1 parses HSDS's bare NaN
        assert np.isnan(f.attrs["nan"])
        assert np.isnan(f["t"].fillvalue)
        assert np.isnan(f["t"][:]).all()
