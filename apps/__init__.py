"""The apps, shipped as the package `metacrm.apps` (only `default_crm`: pyproject.toml's
package-data). No code: the file makes the folder a regular package, which
`importlib.resources` can open in an editable install too (platform/shipped.py says why)."""
