//! HDF5 datatypes in HSDS JSON form: parsing, normalisation, item sizes, predefined names.
