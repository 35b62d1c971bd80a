"""Renders: the project bounced to WAV files by the server, on request.

`jobs.Renders` queues and runs them, one at a time, each in a child process
(`worker`), so that a render's seconds of numpy never stall the event loop
that keeps the session live; `versions.document_at` finds the document to
render. The HTTP routes are `backline.server.http.renders`.
"""
