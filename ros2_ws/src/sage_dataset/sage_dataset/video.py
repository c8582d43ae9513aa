# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Camera streams as MP4 (PyAV): one encoder per file, frames decoded back by timestamp.

Frames are encoded at the dataset's fps with pts = frame number (time base 1/fps) and a
keyframe every 2 frames (as LeRobot encodes, so a reader can seek to any frame cheaply);
H.264 (libx264) when the PyAV build has it, else MPEG-4 part 2.
"""

from fractions import Fraction

import numpy as np

ENCODERS = ('libx264', 'h264', 'libopenh264', 'mpeg4')
PIX_FMT = 'yuv420p'
CRF = 18


def encoder_name():
    """Return the first MP4 video encoder of ENCODERS this PyAV build has."""
    import av
    for name in ENCODERS:
        try:
            av.codec.Codec(name, 'w')
        except Exception:  # noqa: B902 av raises UnknownCodecError / ValueError
            continue
        return name
    raise RuntimeError(f'PyAV {av.__version__} has none of the encoders {ENCODERS}')


class VideoWriter:
    """Append (H, W, 3) uint8 RGB frames to an MP4 at a fixed fps."""

    def __init__(self, path, fps, width, height, codec=None, crf=CRF, pix_fmt=PIX_FMT):
        import av
        if width % 2 or height % 2:
            raise ValueError(f'{path}: {width}x{height} frames: {pix_fmt} needs even sizes')
        self.path = path
        self.codec = codec or encoder_name()
        options = {'g': '2'}
        if self.codec in ('libx264', 'h264'):
            options['crf'] = str(crf)
        else:
            options['qscale'] = '2'
        self.container = av.open(str(path), mode='w')
        self.stream = self.container.add_stream(self.codec, rate=int(fps), options=options)
        self.stream.width, self.stream.height = int(width), int(height)
        self.stream.pix_fmt = pix_fmt
        if self.codec == 'mpeg4':
            self.stream.codec_context.qmin = self.stream.codec_context.qmax = 2
        self.time_base = Fraction(1, int(fps))
        self.frames = 0

    def write(self, rgb):
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, np.uint8), format='rgb24')
        frame.pts = self.frames
        frame.time_base = self.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self):
        self.container.mux(self.stream.encode(None))
        self.container.close()


def read_frames(path, fps):
    """Return {frame number: (H, W, 3) uint8} of an MP4, numbered by timestamp * fps."""
    import av
    frames = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            frames[int(round(t * fps))] = frame.to_ndarray(format='rgb24')
    return frames


def video_info(path):
    """Return (codec name, pix_fmt, width, height) of an MP4's first video stream."""
    import av
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.name, ctx.pix_fmt, ctx.width, ctx.height


def psnr(a, b):
    """Return the PSNR (dB) between two uint8 image arrays (inf when identical)."""
    err = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float('inf') if err == 0 else float(10.0 * np.log10(255.0 ** 2 / err))


class FrameCursor:
    """Decode an MP4 forwards: take(start, n) returns frames numbered start..start+n-1."""

    def __init__(self, path, fps):
        import av
        self.fps = fps
        self.container = av.open(str(path))
        self._frames = self.container.decode(self.container.streams.video[0])
        self.position = 0      # the next frame number not yet returned

    def take(self, start, n):
        """Return up to n frames from number start (fewer when the stream ends)."""
        out = []
        for frame in self._frames:
            t = frame.time if frame.time is not None else 0.0
            number = int(round(t * self.fps))
            if number < start:
                continue
            out.append(frame.to_ndarray(format='rgb24'))
            self.position = number + 1
            if len(out) == n:
                break
        return out

    def close(self):
        self.container.close()


def read_frames_from(path, fps):
    """Return a FrameCursor over an MP4."""
    return FrameCursor(path, fps)
