"""CLI sub-commands: argument parsing and printing only; the work lives in the library."""
