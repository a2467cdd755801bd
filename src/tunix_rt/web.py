"""Serves the built frontend (``tunix_rt/web``) at ``/`` with client-side routing."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

WEB_DIR = Path(__file__).parent / "web"

NOT_BUILT = """<!doctype html><title>Tunix RT</title>
<h1>Tunix RT API is running</h1>
<p>The web UI has not been built in this install. Run <code>make web</code> (or
<code>make run</code>, which builds it) and reload. The API is under <a href="/docs">/docs</a>.</p>
"""


def mount_frontend(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    root = web_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def frontend(path: str) -> Response:
        if "\x00" in path:  # no file has that name; the OS would refuse it with an error
            raise HTTPException(status_code=404, detail="not found")
        if path == "api" or path.startswith("api/"):
            raise HTTPException(status_code=404, detail=f"no API route /{path}")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        if path:
            candidate = (root / path).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                return FileResponse(candidate)
            if path.startswith("assets/"):
                raise HTTPException(status_code=404, detail="asset not found")
        # Any other path is a client-side route: hand it to the SPA.
        return FileResponse(index, headers={"cache-control": "no-cache"})
