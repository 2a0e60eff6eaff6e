//! Dataset layouts: HSDS auto-chunking (1–4 MiB rule), chunk grids, linked-HDF5 reference layouts.
