# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
A cache of decoded, aligned samples, so each closed wake period is decoded once.

Decoding a wake period (reading every message, decoding and resizing every image, aligning
samples) gives the same samples every time, because a closed period's bags do not
change. `SampleCache` keeps them in `<cache_dir>/<period id>.npz` (an uncompressed .npz: the
sample arrays, plus `meta.json` with the extractor's skip counts, the period's read problems
and a sha256 of the arrays), so `load_experience` builds the same memory and report without
reading the bags.

The key is a sha256 over the content of every file of the period's readable segments, in
recording order, and what shaped the samples: the encoder's image_size and max_depth_m, every
ExtractorConfig field and FORMAT_VERSION (bump it when decoding or preprocessing changes).
A file is decoded again and replaced, with a log line saying why, if its key differs, it
cannot be read, or its arrays do not match their sha256. Writes go to a temporary file in the
cache directory that is then renamed over the old one, so a killed sleep never leaves a half
file. Periods with a segment still open (no metadata.yaml, or `open` in index.json) are not
cached; at sleep time none is (the sleep manager pauses recording, which closes the segment,
before it starts the trainer). A period that gains or loses a segment has a new key.
"""

import dataclasses
import hashlib
import json
import os
from pathlib import Path
import re
import time
import zipfile

import numpy as np

from .experience import ExperienceMemory, Sample, SampleExtractor
from ..recording.bag_reader import iter_messages
from ..recording.segments import is_complete, PERIOD_RE, PeriodIndex, SEGMENT_RE

FORMAT_VERSION = 3  # 2: Image read from CDR, frames resized in batches; 3: the task input
CACHE_DIR = '.sample_cache'
ENCODER_KEYS = ('image_size', 'max_depth_m', 'task_buckets')  # what decoding reads
DTYPES = {'color': np.uint8, 'depth': np.float32, 'joint_pos': np.float32,
          'joint_vel': np.float32, 'joint_eff': np.float32, 'action': np.float32,
          'stamp_ns': np.int64, 'episode': np.int64, 'depth_present': np.bool_,
          'task': np.float32}
META = 'meta.json'
PERIOD_DIR = '<period dir>'  # stands for the period's path in stored problems
TEMP_RE = re.compile(r'^\..+\.npz\.(\d+)\.tmp$')
READ_CHUNK = 1 << 20


def default_cache_dir(bag_root):
    """Return the sample cache directory of a bag root, next to its wake periods."""
    return Path(bag_root) / CACHE_DIR


def file_sha256(path):
    """Return the sha256 hex digest of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(READ_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def is_closed(period):
    """Return True when no segment of the wake period is open (recording, or crashed)."""
    if any(r.state == 'open' for r in PeriodIndex(period.path).segments.values()):
        return False
    return all(is_complete(p) for p in period.path.iterdir()
               if p.is_dir() and SEGMENT_RE.match(p.name))


@dataclasses.dataclass
class PeriodSamples:
    """The samples of one wake period (episode ids as recorded), what was skipped and why."""

    samples: object      # iterable of Sample; a generator while decoding streams
    skipped: dict        # the extractor's skip counts (complete once samples are consumed)
    problems: list       # what could not be read in the period's segments


BATCH_SAMPLES = 256          # samples whose frames `finish` turns into inputs at once
BATCH_BYTES = 64 << 20       # ... or fewer, when their full-size frames hold this much


def decode_period(period, config, decode_color, decode_depth, finish=None, decoders=None,
                  encode_task=None):
    """
    Return the PeriodSamples of a wake period, streamed out of its bags as iterated.

    decoders ({message type: function of the raw CDR}, see bag_reader.iter_messages) read
    messages without rosbags' deserialisation; each one they refuse as malformed is skipped
    and counted as `malformed_<type>` (and named in the problems). With finish, the decode
    functions return full-size frames and finish(samples) turns the frames of a batch of
    samples into encoder inputs in place, in one vectorised call per frame size. encode_task
    is SampleExtractor's.
    """
    extractor = SampleExtractor(config, decode_color, decode_depth, encode_task)
    problems = []
    counted = {}
    for msgtype, decode in (decoders or {}).items():
        counted[msgtype] = _counting(decode, extractor.skipped,
                                     f'malformed_{msgtype.rsplit("/", 1)[-1]}')

    def stream():
        batch, held = [], 0
        for topic, stamp, msg in iter_messages(period, topics=config.topics(),
                                               log=problems.append, decoders=counted):
            samples = extractor.feed(topic, stamp, msg)
            if finish is None:
                yield from samples
                continue
            for sample in samples:
                batch.append(sample)
                held += sample.color.nbytes + sample.depth.nbytes
            if len(batch) >= BATCH_SAMPLES or held >= BATCH_BYTES:
                finish(batch)
                yield from batch
                batch, held = [], 0
        extractor.finish()
        if batch:
            finish(batch)
            yield from batch

    return PeriodSamples(stream(), extractor.skipped, problems)


def _counting(decode, counter, key):
    def counted(raw):
        try:
            return decode(raw)
        except ValueError:
            counter[key] += 1
            raise
    return counted


def _array_header(name, dtype, shape):
    """Return what the checksum covers of an array besides its bytes."""
    return f'{name} {np.dtype(dtype).str} {tuple(shape)}\n'.encode()


class StaleCache(Exception):
    """A cache file of other bag contents or preprocessing; the message names what changed."""


class SampleCache:
    """The decoded samples of closed wake periods, one .npz per period in cache_dir."""

    def __init__(self, cache_dir, encoder_config, log=print):
        self.dir = Path(cache_dir)
        self.encoder = {k: encoder_config[k] for k in ENCODER_KEYS}
        self.log = log

    def path(self, period):
        return self.dir / f'{period.id}.npz'

    def key(self, period, config):
        """Return the key parts of a period decoded with config (JSON types, comparable)."""
        segments = [[s.name, {f.name: file_sha256(f) for f in sorted(s.path.iterdir())
                              if f.is_file()}] for s in period.segments]
        parts = {'format': FORMAT_VERSION, 'encoder': self.encoder,
                 'extractor': dataclasses.asdict(config), 'segments': segments}
        return json.loads(json.dumps(parts))

    def get(self, period, config, decode_color, decode_depth, finish=None, decoders=None,
            encode_task=None):
        """Return the period's PeriodSamples: from the cache, or decoded (and then cached)."""
        def decode():
            return decode_period(period, config, decode_color, decode_depth, finish, decoders,
                                 encode_task)

        if not is_closed(period):
            self.log(f'sample cache: wake period {period.id} has an open segment; not cached')
            return decode()
        start = time.monotonic()
        try:
            parts = self.key(period, config)
        except OSError as exc:  # a segment vanished (pruned) meanwhile: read what is there
            self.log(f'sample cache: wake period {period.id}: cannot hash its segments '
                     f'({exc}); not cached')
            return decode()
        path = self.path(period)
        try:
            cached = self._read(path, parts, period)
        except FileNotFoundError:
            self.log(f'sample cache: wake period {period.id} not cached yet; decoding it')
        except StaleCache as exc:
            self.log(f'sample cache: {path} is stale ({exc} changed); decoding the wake '
                     'period again')
        except Exception as exc:  # noqa: B902 whatever a damaged file raises: rebuild it
            self.log(f'sample cache: {path} is unusable ({type(exc).__name__}: {exc}); '
                     'decoding the wake period again')
        else:
            self.log(f'sample cache: wake period {period.id}: {len(cached.samples)} samples '
                     f'from {path} in {time.monotonic() - start:.2f} s')
            return cached
        decoded = decode()
        decoded.samples = list(decoded.samples)
        self._write(path, parts, period, decoded)
        return decoded

    def prune(self, bag_root):
        """Delete the files of wake periods no longer under bag_root and dead writers' temps."""
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            temp = TEMP_RE.match(path.name)
            if temp and not _alive(int(temp[1])):
                path.unlink(missing_ok=True)
            elif path.suffix == '.npz' and PERIOD_RE.match(path.stem) and \
                    not (Path(bag_root) / path.stem).is_dir():
                self.log(f'sample cache: wake period {path.stem} is gone; removing {path}')
                path.unlink(missing_ok=True)

    def _read(self, path, parts, period):
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read(META))
            if meta['key'] != parts:
                raise StaleCache(', '.join(k for k in parts if meta['key'].get(k) != parts[k]))
            digest = hashlib.sha256()
            arrays = {}
            for name in DTYPES:
                with archive.open(f'{name}.npy') as f:
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
                digest.update(_array_header(name, arrays[name].dtype, arrays[name].shape))
                digest.update(np.ascontiguousarray(arrays[name]).data)
        if digest.hexdigest() != meta['sha256']:
            raise ValueError('the arrays do not match their sha256')
        samples = [Sample(int(stamp), int(episode), depth_present=bool(present),
                          **{f: arrays[f][i] for f in ExperienceMemory.FIELDS})
                   for i, (stamp, episode, present) in enumerate(zip(
                       arrays['stamp_ns'], arrays['episode'], arrays['depth_present']))]
        problems = [p.replace(PERIOD_DIR, str(period.path)) for p in meta['problems']]
        return PeriodSamples(samples, meta['skipped'], problems)

    def _write(self, path, parts, period, decoded):
        """
        Write decoded to path atomically, row by row (no second copy of the period).

        Problems are stored relative to the period's directory: a moved bag root reads back
        the report it would give when decoded.
        """
        tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
        digest = hashlib.sha256()
        samples = decoded.samples
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as archive:
                for name, dtype in DTYPES.items():
                    rows = [np.asarray(getattr(s, name), dtype) for s in samples]
                    shape = (len(rows),) + (rows[0].shape if rows else ())
                    header = {'descr': np.lib.format.dtype_to_descr(np.dtype(dtype)),
                              'fortran_order': False, 'shape': shape}
                    digest.update(_array_header(name, dtype, shape))
                    with archive.open(f'{name}.npy', 'w', force_zip64=True) as f:
                        np.lib.format.write_array_header_1_0(f, header)
                        for row in rows:
                            data = np.ascontiguousarray(row).data
                            f.write(data)
                            digest.update(data)
                problems = [p.replace(str(period.path), PERIOD_DIR) for p in decoded.problems]
                meta = {'key': parts, 'sha256': digest.hexdigest(),
                        'skipped': dict(decoded.skipped), 'problems': problems}
                archive.writestr(META, json.dumps(meta, indent=1))
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk: the sleep goes on without it
            tmp.unlink(missing_ok=True)
            self.log(f'sample cache: could not write {path} ({exc}); not cached')


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True
