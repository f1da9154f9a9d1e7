"""The report formats behind `service.compat.output.render`, one module per reader.

`common` holds what every format shares (finding order, places, the plan's "checked" items,
the documentation URIs); `github`, `junit` and `sarif` render for GitHub Actions, JUnit readers
and SARIF consumers. Pure functions over plain data: standard library, `service.compat.findings`
and `service.detect.plan` only, so the offline CLI can use them.
"""
