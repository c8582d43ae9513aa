# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The task sentence as the encoder's `task` input: checked, normalised, hashed into word buckets.

No pretrained text model can be fetched here, and the robot's tasks are short sentences over
a small vocabulary, so the tokenizer is a fixed hash of each lower-cased word (and of each
pair of neighbouring words) into `buckets` counts: no vocabulary file to ship or keep in
step with a model, and an unseen word lands in some bucket instead of failing. What the
words mean is learned during sleep, by the encoder's task network
(`sage_perception.encoder.build_encoder`) from the task sentences recorded with the day; the
simulator names its targets by the same words (`sage_sim.robot.task_color`). A zero vector
means "no task": the encoder then leaves the intentions group at zero and the context's
PRESENT_TASK bit is clear.
"""

import zlib

import numpy as np

MAX_BYTES = 1024  # a longer task sentence is refused


class TaskTextError(ValueError):
    """A task text that cannot be used: empty, too long, not UTF-8."""


def check_task_text(data):
    """
    Return the task sentence of `data` (str or UTF-8 bytes), whitespace collapsed.

    Raise TaskTextError for empty (or blank) text, more than MAX_BYTES bytes, or bytes that
    are not UTF-8.
    """
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
        try:
            data = raw.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise TaskTextError(f'task text is not UTF-8 ({exc.reason} at byte {exc.start})')
    else:
        raw = str(data).encode('utf-8', 'surrogatepass')
    if len(raw) > MAX_BYTES:
        raise TaskTextError(f'task text is {len(raw)} bytes, more than {MAX_BYTES}')
    text = ' '.join(str(data).split())
    if not text:
        raise TaskTextError('task text is empty')
    return text


def words(text):
    """Return the lower-cased alphanumeric words of text."""
    return ''.join(c if c.isalnum() else ' ' for c in text.lower()).split()


def task_tokens(text, buckets):
    """
    Return the (buckets,) float32 encoder input of a task sentence.

    Hashed counts of its words and neighbouring word pairs, scaled to unit length; '' or
    None gives zeros (no task).
    """
    out = np.zeros(int(buckets), np.float32)
    if not text:
        return out
    ws = words(text)
    for token in ws + [f'{a} {b}' for a, b in zip(ws, ws[1:])]:
        out[zlib.crc32(token.encode('utf-8')) % len(out)] += 1.0
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 0 else out
