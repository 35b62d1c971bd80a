"""Live sessions: the hub that loads them, each session and its collaborators, connections."""
