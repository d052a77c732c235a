"""The media plane: rtpengine's ng protocol, and pure SDP helpers for relaying browser calls."""
