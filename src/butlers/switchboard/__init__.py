"""The switchboard: registry, in-process routing, dispatch of inbound messages (issue 11).

The `switchboard` module (module.py) wires it into the switchboard butler.
"""
