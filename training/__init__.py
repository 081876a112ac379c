"""Training and fitting commands: what produces the product's weights and fitted constants.

The answer path (``qa/``, ``index/``, ``ui/``) never imports this package; it reads what these commands write.
"""
