//! Helpers shared by the group, dataset and datatype routes: creating, loading and describing objects.
