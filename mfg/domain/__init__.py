"""Pure domain: values in, values or a typed error out. No SQL, no files, no clock."""
