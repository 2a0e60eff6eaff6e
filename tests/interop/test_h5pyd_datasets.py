"""h5pyd 1.0 dataset I/O — every common type and filter, slicing, fancy and point selection, resize,
compound tables and read_where, fill values — against HSDS 1.0.2 and hslambda alike."""
import h5pyd
import numpy as np
import pytest

from test_h5pyd_metadata import open_file

RNG = np.random.default_rng(42)

NUMERIC = ["i1", "u1", "<i2", ">i2", "<u2", "<i4", ">i4", "<u4", "<i8", "<u8", "<f2", "<f4", ">f4", "<f8", ">f8"]


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numeric_types_round_trip(server, domain, dtype):
    data = (RNG.standard_normal((17, 9)) * 100).astype(dtype)
    with open_file(server, domain, "w") as f:
        f.create_dataset("x", data=data)
    with open_file(server, domain, "r") as f:
        d = f["x"]
        assert d.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(d[...], data)
        np.testing.assert_array_equal(d[3:11:2, ::4], data[3:11:2, ::4])


@pytest.mark.parametrize("filters", [
    {}, {"compression": "gzip"}, {"compression": "gzip", "shuffle": True}, {"compression": "lz4"},
    {"compression": "blosclz"}, {"shuffle": True},
])
def test_filters_round_trip_across_chunks(server, domain, filters):
    data = RNG.standard_normal((120, 70)).astype("f4").cumsum(axis=0)
    with open_file(server, domain, "w") as f:
        f.create_dataset("x", data=data, chunks=(25, 30), **filters)
    with open_file(server, domain, "r") as f:
        np.testing.assert_array_equal(f["x"][...], data)
        np.testing.assert_array_equal(f["x"][24:51, 29:31], data[24:51, 29:31])  # crosses chunk borders
        np.testing.assert_array_equal(f["x"][119, :], data[119, :])


def test_strings_fixed_and_variable(server, domain):
    fixed = np.array([b"alpha", b"be", b"", b"gamma"], dtype="S5")
    vlen = np.array(["α", "beta", "", "a longer string than the rest"], dtype=object)
    with open_file(server, domain, "w") as f:
        f.create_dataset("fixed", data=fixed)
        f.create_dataset("vlen", data=vlen, dtype=h5pyd.string_dtype())
    with open_file(server, domain, "r") as f:
        np.testing.assert_array_equal(f["fixed"][...], fixed)
        got = [s.decode() if isinstance(s, bytes) else s for s in f["vlen"][...]]
        assert got == list(vlen)
        got1 = f["vlen"][1]
        assert (got1.decode() if isinstance(got1, bytes) else got1) == "beta"


def test_compound_table_and_read_where(server, domain):
    dt = np.dtype([("id", "<i8"), ("temp", "<f4"), ("site", "S4")])
    rows = np.array([(i, 10.0 + i % 7, b"s%d" % (i % 3)) for i in range(50)], dtype=dt)
    with open_file(server, domain, "w") as f:
        f.create_dataset("t", data=rows)  # (h5pyd 1.0.0's create_table(data=...) fails client-side)
    with open_file(server, domain, "r") as f:
        t = f["t"]
        np.testing.assert_array_equal(t[...], rows)
        np.testing.assert_array_equal(t[5:9], rows[5:9])
        hot = np.array(list(t.read_where("temp > 15")), dtype=dt)  # read_where yields rows
        np.testing.assert_array_equal(np.sort(hot["id"]), rows[rows["temp"] > 15]["id"])
        site1 = list(t.read_where("site == b's1'"))
        assert len(site1) == (rows["site"] == b"s1").sum()
        assert t.get_where_list("(temp > 12) & (id < 20)") == [int(i) for i in
                                                               np.nonzero((rows["temp"] > 12) & (rows["id"] < 20))[0]]


def test_fancy_and_point_selection(server, domain):
    data = np.arange(40 * 30, dtype="<i4").reshape(40, 30)
    with open_file(server, domain, "w") as f:
        f.create_dataset("x", data=data, chunks=(10, 10))
    with open_file(server, domain, "r") as f:
        d = f["x"]
        np.testing.assert_array_equal(d[[1, 5, 17, 38], 3:9], data[[1, 5, 17, 38], 3:9])
        np.testing.assert_array_equal(d[7, [0, 11, 29]], data[7, [0, 11, 29]])
        mask = data % 97 == 0
        np.testing.assert_array_equal(d[mask], data[mask])


def test_writes_partial_and_fill_values(server, domain):
    with open_file(server, domain, "w") as f:
        d = f.create_dataset("x", (30, 20), dtype="<i2", chunks=(10, 10), fillvalue=-7)
        d[5:15, 8:12] = np.ones((10, 4), dtype="<i2")
        d[29, 19] = 3
    expect = np.full((30, 20), -7, dtype="<i2")
    expect[5:15, 8:12] = 1
    expect[29, 19] = 3
    with open_file(server, domain, "r") as f:
        np.testing.assert_array_equal(f["x"][...], expect)
        assert f["x"].fillvalue == -7


def test_resize_grow_and_shrink(server, domain):
    with open_file(server, domain, "w") as f:
        d = f.create_dataset("x", (10, 4), maxshape=(None, 4), dtype="<f8", chunks=(8, 4))
        d[...] = np.arange(40, dtype="f8").reshape(10, 4)
    with open_file(server, domain, "a") as f:
        d = f["x"]
        d.resize((25, 4))
        d[10:25] = -np.ones((15, 4))
    with open_file(server, domain, "r") as f:
        d = f["x"]
        assert d.shape == (25, 4) and d.maxshape == (None, 4)
        np.testing.assert_array_equal(d[:10], np.arange(40, dtype="f8").reshape(10, 4))
        np.testing.assert_array_equal(d[10:], -np.ones((15, 4)))
    with open_file(server, domain, "a") as f:
        f["x"].resize((6, 4))
    with open_file(server, domain, "a") as f:
        d = f["x"]
        assert d.shape == (6, 4)
        d.resize((12, 4))
    with open_file(server, domain, "r") as f:
        np.testing.assert_array_equal(f["x"][6:12], np.zeros((6, 4)))  # fill, not the old data


def test_scalar_and_empty(server, domain):
    with open_file(server, domain, "w") as f:
        f.create_dataset("scalar", data=np.float64(2.5))
        f.create_dataset("empty", (0,), maxshape=(None,), dtype="<i4")
    with open_file(server, domain, "r") as f:
        assert f["scalar"][()] == 2.5
        assert f["scalar"].shape == ()
        assert f["empty"].shape == (0,)


def test_attributes_of_many_types(server, domain):
    values = {
        "i8": np.int8(-5), "u64": np.uint64(2**63 + 1), "f32": np.float32(1.25), "arr": np.arange(12).reshape(3, 4),
        "str": "hello", "bytes": np.bytes_(b"raw"), "strs": np.array(["a", "bc"], dtype=object),
        "bool": np.bool_(True),
    }
    with open_file(server, domain, "w") as f:
        g = f.create_group("g")
        for k, v in values.items():
            g.attrs[k] = v
    with open_file(server, domain, "r") as f:
        a = f["g"].attrs
        assert sorted(a) == sorted(values)
        # Every value and its type read back, not only the names.
        for name in ("i8", "u64", "f32", "arr"):
            got, want = a[name], values[name]
            np.testing.assert_array_equal(got, want, err_msg=name)
            assert np.asarray(got).dtype == np.asarray(want).dtype, (name, np.asarray(got).dtype)
            assert np.shape(got) == np.shape(want), (name, np.shape(got))
        assert a["i8"] == -5 and a["u64"] == 2**63 + 1 and a["f32"] == np.float32(1.25)
        assert a["bool"] == True and np.asarray(a["bool"]).dtype == np.bool_  # noqa: E712
        s = a["str"]
        assert (s.decode() if isinstance(s, bytes) else s) == "hello"
        assert bytes(a["bytes"]) == b"raw" and np.asarray(a["bytes"]).dtype.kind == "S"
        assert [x.decode() if isinstance(x, bytes) else x for x in a["strs"]] == ["a", "bc"]
        assert np.shape(a["strs"]) == (2,)
