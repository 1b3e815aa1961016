"""The baseline of ``bench/redirect.py``: a bare Flask app answering ``/l/<code>`` with a 302, no
database, no Redis, no extensions. ``gunicorn bench.bare_app:app``."""

from flask import Flask, redirect

app = Flask(__name__)


@app.get("/l/<code>")
def follow(code: str):
    return redirect("https://acme.example.net/go?sub=p000000000:a000000000:c0000000000000", 302)
