//! Dataspace shapes: `H5S_SIMPLE` dims/maxdims (0 = unlimited), `H5S_SCALAR`, `H5S_NULL`.
