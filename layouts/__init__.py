"""The screens' templates and static files, shipped as the package `metacrm.layouts`. No
code: the file makes the folder a regular package, which `importlib.resources` can open in an
editable install too (platform/shipped.py says why)."""
