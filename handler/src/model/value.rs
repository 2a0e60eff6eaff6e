//! Element values: JSON ⇄ packed binary (little-endian, vlen as 4-byte length + bytes), fill values, base64.
