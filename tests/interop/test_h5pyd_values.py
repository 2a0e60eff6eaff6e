"""h5pyd 1.0's value edge paths (issue 15 item 4) against HSDS 1.0.2 and hslambda alike: a second read handle
that sees resizes and new values after ``refresh()`` (SWMR-style readers), ``create_dataset(initializer=...)``,
and ``read_where`` / ``Dataset.query`` on tables."""
import numpy as np

from test_h5pyd_metadata import open_file

TABLE = np.dtype([("id", "<i8"), ("temp", "<f4"), ("site", "S4")])


def table_rows(n):
    return np.array([(i, 10.0 + i % 7, b"s%d" % (i % 3)) for i in range(n)], dtype=TABLE)


def test_second_handle_sees_resize_and_new_values_after_refresh(server, domain):
    with open_file(server, domain, "w") as f:
        f.create_dataset("x", (4,), maxshape=(None,), dtype="<i4", chunks=(4,), data=np.arange(4, dtype="<i4"))
    with open_file(server, domain, "a") as writer, open_file(server, domain, "r") as reader:
        w, r = writer["x"], reader["x"]
        assert r.shape == (4,)
        w.resize((10,))
        w[4:10] = np.arange(100, 106, dtype="<i4")
        writer.flush()  # h5pyd 1.0 keeps changes until a flush
        r.refresh()
        assert r.shape == (10,)
        np.testing.assert_array_equal(r[...], np.concatenate([np.arange(4), np.arange(100, 106)]))
        w[0] = -5
        writer.flush()
        r.refresh()
        assert r[0] == -5
        w.resize((2,))
        writer.flush()
        r.refresh()
        assert r.shape == (2,)
        np.testing.assert_array_equal(r[...], [-5, 1])


def test_create_dataset_with_the_arange_initializer(server, domain):
    with open_file(server, domain, "w") as f:
        d = f.create_dataset("a", (10,), dtype="<i8", chunks=(4,), initializer="arange")
        assert d.id.cpl_json["initializer"] == ["arange"]
        f.create_dataset("b", (6,), dtype="<f4", chunks=(4,), initializer="arange",
                         initializer_opts=["--start=10", "--step=0.5"])
    with open_file(server, domain, "a") as f:
        np.testing.assert_array_equal(f["a"][...], np.arange(10))
        np.testing.assert_array_equal(f["a"][5:9], np.arange(5, 9))
        np.testing.assert_array_equal(f["b"][...], np.arange(10, 13, 0.5, dtype="f4"))
        f["a"][9] = -1  # a write into a chunk no one read yet starts from the initializer's values too
        np.testing.assert_array_equal(f["a"][...], list(range(9)) + [-1])


def test_read_where_and_query_on_a_table(server, domain):
    rows = table_rows(60)
    with open_file(server, domain, "w") as f:
        f.create_dataset("t", data=rows, chunks=(16,))
    with open_file(server, domain, "a") as f:
        t = f["t"]
        hot = np.array(list(t.read_where("temp > 15")), dtype=TABLE)
        np.testing.assert_array_equal(np.sort(hot["id"]), rows[rows["temp"] > 15]["id"])
        s1 = np.array(list(t.read_where("site == b's1'", start=10, stop=40)), dtype=TABLE)
        want = rows[10:40][rows[10:40]["site"] == b"s1"]
        np.testing.assert_array_equal(s1["id"], want["id"])
        assert len(list(t.read_where("temp > 15", limit=3))) == 3
        idx = t.query("(temp > 14) & (id < 30)")
        np.testing.assert_array_equal(np.asarray(idx).reshape(-1), np.nonzero((rows["temp"] > 14) & (rows["id"] < 30))[0])
        assert len(t.query("temp > 14", limit=2)) == 2
        t.query("id < 3", update_value={"temp": -1.0})
        np.testing.assert_array_equal(t[0:4]["temp"], [-1.0, -1.0, -1.0, 13.0])
        assert t[5]["site"] == b"s2"  # the other fields are untouched


def test_region_references_written_read_and_followed(server, domain):
    """h5pyd 1.0's region references (h5json's binary form, issue 15 item 3): ``regionref[...]`` stored in a
    region-reference dataset and attribute, read back, and followed to read the region (h5pyd applies the
    selection itself)."""
    import h5pyd

    rt = h5pyd.special_dtype(ref=h5pyd.RegionReference)
    with open_file(server, domain, "w") as f:
        d = f.create_dataset("d", data=np.arange(20, dtype="<i4").reshape(4, 5))
        r = f.create_dataset("r", (3,), dtype=rt)
        r[0] = d.regionref[1:3, 2:4]
        r[1] = d.regionref[...]
        d.attrs.create("where", d.regionref[0:4:2, 1:3], dtype=rt)
    with open_file(server, domain, "r") as f:
        d, r = f["d"], f["r"]
        refs = r[...]
        np.testing.assert_array_equal(d[refs[0]], [[7, 8], [12, 13]])
        np.testing.assert_array_equal(d[refs[1]], np.arange(20).reshape(4, 5))
        assert not refs[2]  # never written: a null reference
        np.testing.assert_array_equal(d[d.attrs["where"]], [[1, 2], [11, 12]])
