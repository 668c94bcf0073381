"""A labeling web app: a person is the oracle of the active-learning loop.

``activegan label`` serves it (see ``cli``). ``session`` holds the loop (``LabelSession``, no web
framework needed), ``web`` the FastAPI app and the page's JSON, ``store`` the SQLite state,
``static/`` the page (plain HTML, CSS and JS, no build step).
"""
