"""The browser client: plain ES modules, served as they are by the server (no build step).

A package only so that it installs with the others and the server finds its
files through the import system, not a file-system path.
"""
