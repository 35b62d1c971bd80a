"""The server's plain HTTP answers: the web client, recordings, and how every answer is built."""
