//! The `query=` boolean expression language of HSDS (`boolparser.py`): parsing and evaluation over compound rows.
