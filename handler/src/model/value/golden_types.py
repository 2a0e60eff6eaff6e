import json, numpy as np
from h5json.hdf5dtype import createDataType
from h5json.array_util import jsonToArray, arrayToBytes, bytesToArray, bytesArrayToList
cases = [
 ("H5T_STD_I8LE", [3], [-1, 2, -128]),
 ("H5T_STD_U16BE", [2], [1, 65535]),
 ("H5T_STD_I32LE", [2,2], [[1,-2],[3,4]]),
 ("H5T_STD_I64BE", [], -5),
 ("H5T_STD_U64LE", [1], [18446744073709551615]),
 ("H5T_IEEE_F16LE", [4], [0.1, -2.5, 65504.0, 1e-6]),
 ("H5T_IEEE_F16BE", [2], [1.0, 0.333]),
 ("H5T_IEEE_F32LE", [3], [0.1, -1.5, 3.4e38]),
 ("H5T_IEEE_F64BE", [2], [0.1, -1e300]),
 ({"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":5,"strPad":"H5T_STR_NULLPAD"}, [2], ["ab", "hello"]),
 ({"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE","strPad":"H5T_STR_NULLTERM"}, [3], ["", "héllo", "x"]),
 ({"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":"H5T_VARIABLE","strPad":"H5T_STR_NULLTERM"}, [], "abc"),
 ({"class":"H5T_VLEN","base":"H5T_STD_I32LE"}, [2], [[1,2,3],[4]]),
 ({"class":"H5T_VLEN","base":{"class":"H5T_IEEE_F64LE" if False else "H5T_FLOAT","base":"H5T_IEEE_F64LE"}}, [2], [[1.5],[]]),
 ({"class":"H5T_COMPOUND","fields":[{"name":"a","type":"H5T_STD_I16LE"},{"name":"b","type":"H5T_IEEE_F32BE"},{"name":"s","type":{"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":3}}]}, [2], [[1, 2.5, "xy"],[-3, 0.25, "abc"]]),
 ({"class":"H5T_COMPOUND","fields":[{"name":"i","type":"H5T_STD_U8LE"},{"name":"s","type":{"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE"}}]}, [2], [[1, "ab"],[2, "cde"]]),
 ({"class":"H5T_ARRAY","dims":[2,3],"base":"H5T_STD_I16BE"}, [2], [[[1,2,3],[4,5,6]],[[7,8,9],[10,11,12]]]),
 ({"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_U16LE"},"mapping":{"R":0,"G":1,"B":258}}, [3], [0, 258, 1]),
 ({"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_I8LE"},"mapping":{"FALSE":0,"TRUE":1}}, [3], [True, False, True]),
 ({"class":"H5T_OPAQUE","size":4}, [2], ["AQIDBA==", ""]),
 ({"class":"H5T_REFERENCE","base":"H5T_STD_REF_OBJ"}, [1], ["groups/g-8c785f1c-995311e6-9bc2-0242ac-110005"]),
]
out = []
for t, dims, val in cases:
    tj = t if isinstance(t, dict) else {"class": "H5T_FLOAT" if "IEEE" in t else "H5T_INTEGER", "base": t}
    dt = createDataType(tj)
    npd = dims if dims else [1]
    arr = jsonToArray(npd, dt, val)
    b = arrayToBytes(arr)
    back = bytesToArray(b, dt, npd)
    js = bytesArrayToList(back)
    if not dims: js = js[0]
    out.append({"type": tj, "dims": dims, "value": val, "hex": b.hex(), "json": js})
print(json.dumps(out))
