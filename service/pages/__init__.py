"""The human pages: the matrix, time travel and diffs, techniques, pairs, the check form, where a
job can run, the models and hardware, and the memory estimator.

Server-rendered HTML (Jinja2 templates in `templates/`), styled and scripted by the files in
`static/` (served at /static/pages, no CDN, no build step). Every page reads completely without
JavaScript; the script adds keyboard navigation of the grids and opens panels in place. Pages
read through the same service functions as the JSON routes, and the check form through the
same detectors and rules as `ftmatrix check`; the explorer and the estimator through the
functions behind `GET /v1/where` and `POST /v1/estimates`.
"""
