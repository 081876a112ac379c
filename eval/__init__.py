"""citeqa evaluation: ``python -m eval <suite> [options]`` (see eval/README.md)."""
