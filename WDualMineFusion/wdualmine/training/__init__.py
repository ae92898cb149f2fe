"""Training W-DUALMINE on registered 2-D slice pairs (the AANLIB layout)."""
