"""Code-generated NumPy evaluators, one module per spec in derivations/.

The modules are written by `symws regenerate` and must not be edited by hand;
each imports numpy and the standard library only.
"""
