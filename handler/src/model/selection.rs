//! Selections: HSDS `select=[a:b:s, n, [i,j], :]` hyperslabs, coordinate lists and point lists.
