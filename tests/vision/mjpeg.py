"""A tiny MJPEG-over-HTTP camera (multipart/x-mixed-replace, as many IP cameras serve) that a test can
stop and start again on the same port."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time

import cv2
import numpy as np


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    streaming: threading.Event


class _Camera(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        _, jpeg = cv2.imencode(".jpg", np.full((180, 320, 3), 120, np.uint8))
        part = (
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg.tobytes() + b"\r\n"
        )
        try:
            while self.server.streaming.is_set():
                self.wfile.write(part)
                time.sleep(0.1)
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        return


class MjpegCamera:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", self.port), _Camera)
        self._server.streaming = threading.Event()
        self._server.streaming.set()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-camera")
        self._thread.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.streaming.clear()
        self._server.shutdown()
        self._server.server_close()  # joins the streaming handler threads
        self._thread.join()
        self._server = self._thread = None
