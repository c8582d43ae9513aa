# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
LeRobot datasets: v3.0 (LeRobot's current layout) and GR00T's flavour (v2.1 + modality.json).

v3.0 (field names and paths as LeRobot's `datasets/utils.py` writes them):

    meta/info.json                          codebase_version "v3.0", fps, features, paths
    meta/stats.json                         min/max/mean/std/count (+ quantiles) per feature
    meta/tasks.parquet                      task (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, the data
                                            file and row range, each video's file and
                                            from/to timestamps, per-episode stats
    data/chunk-000/file-000.parquet         observation.state, action, timestamp,
                                            frame_index, episode_index, index, task_index
    videos/<key>/chunk-000/file-000.mp4     every episode's frames, one after the other

GR00T (LeRobot v2.1, one file per episode): data/chunk-000/episode_000000.parquet,
videos/chunk-000/<key>/episode_000000.mp4, meta/info.json (v2.1), meta/episodes.jsonl,
meta/tasks.jsonl, meta/episodes_stats.jsonl, meta/stats.json and meta/modality.json (start/end
slices of observation.state and action). A frame's timestamp is frame_index / fps.

`DatasetWriter` writes either; `read_dataset` reads either (ours or anyone's in these
layouts), checking what it relies on first: a missing file or column, timestamps that do not
advance at info.json's fps, a video shorter than its episode, or modality.json slices that
overrun the vectors raise DatasetError naming the file and the field.
"""

import json
from pathlib import Path

import numpy as np

from .episodes import (action_names, COLOR_KEY, DatasetError, EpisodeData, state_names)
from .video import read_frames_from, VideoWriter

CHUNKS_SIZE = 1000
DATA_FILE_SIZE_IN_MB = 100
VIDEO_FILE_SIZE_IN_MB = 500
V30_DATA = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
V30_VIDEO = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
V30_EPISODES = 'meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
V21_DATA = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
V21_VIDEO = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
INDEX_FEATURES = {
    'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
    'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
}
REQUIRED_COLUMNS = ('observation.state', 'action', 'timestamp', 'frame_index', 'episode_index')
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
TIMESTAMP_TOLERANCE_S = 1e-4  # LeRobot's default tolerance_s


def _write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=4) + '\n')


def _stats(values):
    """Return LeRobot's stats of an (N, D) array: per-dimension lists, count as [N]."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    out = {'min': values.min(0), 'max': values.max(0), 'mean': values.mean(0),
           'std': values.std(0), 'count': np.array([len(values)])}
    for q in QUANTILES:
        out[f'q{int(round(q * 100)):02d}'] = np.quantile(values, q, axis=0)
    return {k: v.tolist() for k, v in out.items()}


class _ImageStats:
    """Per-channel stats of frames in [0, 1] (shape (3, 1, 1) as LeRobot stores them)."""

    STRIDE = 4  # every 4th pixel each way

    def __init__(self):
        self.n = 0
        self.sum = np.zeros(3)
        self.sq = np.zeros(3)
        self.min = np.full(3, np.inf)
        self.max = np.full(3, -np.inf)
        self.pixels = 0

    def add(self, frames):
        px = frames[:, ::self.STRIDE, ::self.STRIDE].reshape(-1, 3).astype(np.float64) / 255.0
        self.n += len(frames)
        self.sum += px.sum(0)
        self.sq += (px ** 2).sum(0)
        self.min = np.minimum(self.min, px.min(0))
        self.max = np.maximum(self.max, px.max(0))
        self.pixels += len(px)

    def result(self):
        mean = self.sum / self.pixels
        std = np.sqrt(np.maximum(self.sq / self.pixels - mean ** 2, 0.0))

        def c11(v):
            return [[[float(x)]] for x in v]
        return {'min': c11(self.min), 'max': c11(self.max), 'mean': c11(mean),
                'std': c11(std), 'count': [self.n]}


class DatasetWriter:
    """Write EpisodeData one by one as a LeRobot v3.0 ('lerobot') or GR00T ('groot') dataset."""

    def __init__(self, root, fmt, fps, joint_names, robot_type='sage_reacher', codec=None):
        if fmt not in ('lerobot', 'groot'):
            raise ValueError(f'unknown format {fmt!r} (lerobot or groot)')
        self.root = Path(root)
        self.fmt = fmt
        self.fps = int(fps)
        self.joint_names = list(joint_names)
        self.robot_type = robot_type
        self.codec = codec
        self.tasks = {}
        self.episodes = []
        self.columns = {k: [] for k in ('observation.state', 'action', 'timestamp',
                                        'frame_index', 'episode_index', 'index', 'task_index')}
        self.video_shapes = {}
        self.videos = {}            # v3.0: {key: VideoWriter} of the one file per key
        self.video_frames = {}      # v3.0: frames written per key so far
        self.image_stats = {}
        self.frames = 0
        self.codec_used = None

    # -- writing -------------------------------------------------------------------------
    def add(self, episode):
        n = len(episode)
        if n == 0:
            return
        if episode.state.shape[1] != 3 * len(self.joint_names) or \
                episode.action.shape[1] != len(self.joint_names):
            raise DatasetError(f'episode {episode.index}: state/action sizes '
                               f'{episode.state.shape[1]}/{episode.action.shape[1]} do not fit '
                               f'joints {self.joint_names}')
        e = len(self.episodes)
        task_index = self.tasks.setdefault(episode.task, len(self.tasks))
        first = self.frames
        cols = self.columns
        cols['observation.state'].append(episode.state.astype(np.float32))
        cols['action'].append(episode.action.astype(np.float32))
        cols['timestamp'].append((np.arange(n) / self.fps).astype(np.float32))
        cols['frame_index'].append(np.arange(n, dtype=np.int64))
        cols['episode_index'].append(np.full(n, e, np.int64))
        cols['index'].append(np.arange(first, first + n, dtype=np.int64))
        cols['task_index'].append(np.full(n, task_index, np.int64))
        record = {'episode_index': e, 'tasks': [episode.task], 'length': n,
                  'dataset_from_index': first, 'dataset_to_index': first + n}
        for key, frames in episode.frames.items():
            shape = tuple(frames.shape[1:])
            if self.video_shapes.setdefault(key, shape) != shape:
                raise DatasetError(f'episode {episode.index}: {key} frames {shape}, earlier '
                                   f'{self.video_shapes[key]}')
            self.image_stats.setdefault(key, _ImageStats()).add(frames)
            if self.fmt == 'lerobot':
                writer = self._v30_video(key, shape)
                start = self.video_frames.get(key, 0)
                for frame in frames:
                    writer.write(frame)
                self.video_frames[key] = start + n
                record.update({f'videos/{key}/chunk_index': 0, f'videos/{key}/file_index': 0,
                               f'videos/{key}/from_timestamp': start / self.fps,
                               f'videos/{key}/to_timestamp': (start + n) / self.fps})
            else:
                path = self.root / V21_VIDEO.format(episode_chunk=e // CHUNKS_SIZE,
                                                    episode_index=e, video_key=key)
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = VideoWriter(path, self.fps, shape[1], shape[0], codec=self.codec)
                for frame in frames:
                    writer.write(frame)
                writer.close()
                self.codec_used = writer.codec
        record['stats'] = {'observation.state': _stats(episode.state),
                           'action': _stats(episode.action),
                           'timestamp': _stats(cols['timestamp'][-1][:, None]),
                           'frame_index': _stats(cols['frame_index'][-1][:, None]),
                           'episode_index': _stats(cols['episode_index'][-1][:, None]),
                           'index': _stats(cols['index'][-1][:, None]),
                           'task_index': _stats(cols['task_index'][-1][:, None])}
        if self.fmt == 'groot':
            self._write_data(self.root / V21_DATA.format(episode_chunk=e // CHUNKS_SIZE,
                                                         episode_index=e),
                             {k: v[-1] for k, v in cols.items()})
        self.episodes.append(record)
        self.frames += n

    def _v30_video(self, key, shape):
        if key not in self.videos:
            path = self.root / V30_VIDEO.format(video_key=key, chunk_index=0, file_index=0)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.videos[key] = VideoWriter(path, self.fps, shape[1], shape[0], codec=self.codec)
            self.codec_used = self.videos[key].codec
        return self.videos[key]

    def _write_data(self, path, columns):
        import pyarrow as pa
        import pyarrow.parquet as pq
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays, names = [], []
        for name, chunks in columns.items():
            values = np.concatenate(chunks) if isinstance(chunks, list) else chunks
            if values.ndim == 2:
                flat = pa.array(values.reshape(-1), pa.float32())
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, values.shape[1]))
            else:
                arrays.append(pa.array(values))
            names.append(name)
        pq.write_table(pa.Table.from_arrays(arrays, names=names), path)

    def close(self):
        """Finish the files; return a summary (episodes, frames, codec)."""
        for writer in self.videos.values():
            writer.close()
        if not self.episodes:
            raise DatasetError('no episode to write (no usable samples in the bags)')
        if self.fmt == 'lerobot':
            self._write_data(self.root / V30_DATA.format(chunk_index=0, file_index=0),
                             self.columns)
            self._write_v30_episodes()
            self._write_tasks_parquet()
        else:
            self._write_v21_meta()
        _write_json(self.root / 'meta/stats.json', self._global_stats())
        _write_json(self.root / 'meta/info.json', self._info())
        return {'episodes': len(self.episodes), 'frames': self.frames, 'codec': self.codec_used}

    # -- metadata ------------------------------------------------------------------------
    def _features(self):
        features = {
            'observation.state': {'dtype': 'float32', 'shape': [3 * len(self.joint_names)],
                                  'names': state_names(self.joint_names)},
            'action': {'dtype': 'float32', 'shape': [len(self.joint_names)],
                       'names': action_names(self.joint_names)},
        }
        for key, (h, w, c) in self.video_shapes.items():
            features[key] = {
                'dtype': 'video', 'shape': [h, w, c], 'names': ['height', 'width', 'channels'],
                'info': {'video.height': h, 'video.width': w,
                         'video.codec': 'h264' if 'h264' in (self.codec_used or '') or
                         self.codec_used == 'libx264' else self.codec_used,
                         'video.pix_fmt': 'yuv420p', 'video.is_depth_map': False,
                         'video.fps': self.fps, 'video.channels': c, 'has_audio': False}}
        features.update(json.loads(json.dumps(INDEX_FEATURES)))
        return features

    def _info(self):
        info = {'codebase_version': 'v3.0' if self.fmt == 'lerobot' else 'v2.1',
                'robot_type': self.robot_type,
                'total_episodes': len(self.episodes), 'total_frames': self.frames,
                'total_tasks': len(self.tasks)}
        if self.fmt == 'lerobot':
            info.update({'chunks_size': CHUNKS_SIZE,
                         'data_files_size_in_mb': DATA_FILE_SIZE_IN_MB,
                         'video_files_size_in_mb': VIDEO_FILE_SIZE_IN_MB,
                         'fps': self.fps, 'splits': {'train': f'0:{len(self.episodes)}'},
                         'data_path': V30_DATA, 'video_path': V30_VIDEO if self.video_shapes
                         else None})
        else:
            info.update({'total_videos': len(self.episodes) * len(self.video_shapes),
                         'total_chunks': (len(self.episodes) - 1) // CHUNKS_SIZE + 1,
                         'chunks_size': CHUNKS_SIZE, 'fps': self.fps,
                         'splits': {'train': f'0:{len(self.episodes)}'},
                         'data_path': V21_DATA, 'video_path': V21_VIDEO if self.video_shapes
                         else None})
        info['features'] = self._features()
        return info

    def _global_stats(self):
        cols = self.columns
        stats = {k: _stats(np.concatenate(cols[k]).reshape(self.frames, -1)) for k in cols}
        for key, acc in self.image_stats.items():
            stats[key] = acc.result()
        return stats

    def _write_v30_episodes(self):
        import pyarrow as pa
        import pyarrow.parquet as pq
        rows = []
        for record in self.episodes:
            row = {k: v for k, v in record.items() if k != 'stats'}
            row.update({'data/chunk_index': 0, 'data/file_index': 0,
                        'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0})
            for feature, stats in record['stats'].items():
                for name, value in stats.items():
                    row[f'stats/{feature}/{name}'] = [float(x) for x in value]
            rows.append(row)
        table = pa.Table.from_pylist(rows)
        path = self.root / V30_EPISODES.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

    def _write_tasks_parquet(self):
        """meta/tasks.parquet as pandas writes a frame indexed by task (LeRobot reads it so)."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        tasks = sorted(self.tasks, key=self.tasks.get)
        pandas_meta = {
            'index_columns': ['task'],
            'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode',
                                'numpy_type': 'object', 'metadata': {'encoding': 'UTF-8'}}],
            'columns': [{'name': 'task_index', 'field_name': 'task_index',
                         'pandas_type': 'int64', 'numpy_type': 'int64', 'metadata': None},
                        {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode',
                         'numpy_type': 'object', 'metadata': None}],
            'creator': {'library': 'pyarrow', 'version': pa.__version__},
            'pandas_version': '2.2.3'}
        table = pa.table({'task_index': pa.array([self.tasks[t] for t in tasks], pa.int64()),
                          'task': pa.array(tasks, pa.string())})
        table = table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})
        path = self.root / 'meta/tasks.parquet'
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

    def _write_v21_meta(self):
        meta = self.root / 'meta'
        meta.mkdir(parents=True, exist_ok=True)
        with open(meta / 'episodes.jsonl', 'w') as f:
            for r in self.episodes:
                f.write(json.dumps({'episode_index': r['episode_index'], 'tasks': r['tasks'],
                                    'length': r['length']}) + '\n')
        with open(meta / 'episodes_stats.jsonl', 'w') as f:
            for r in self.episodes:
                f.write(json.dumps({'episode_index': r['episode_index'],
                                    'stats': r['stats']}) + '\n')
        with open(meta / 'tasks.jsonl', 'w') as f:
            for task, index in sorted(self.tasks.items(), key=lambda kv: kv[1]):
                f.write(json.dumps({'task_index': index, 'task': task}) + '\n')
        j = len(self.joint_names)
        modality = {
            'state': {'joint_pos': {'start': 0, 'end': j}, 'joint_vel': {'start': j, 'end': 2 * j},
                      'joint_eff': {'start': 2 * j, 'end': 3 * j}},
            'action': {'joint_pos': {'start': 0, 'end': j}},
            'video': {key.rsplit('.', 1)[-1]: {'original_key': key} for key in self.video_shapes},
            'annotation': {'human.action.task_description': {'original_key': 'task_index'}},
        }
        _write_json(meta / 'modality.json', modality)


# -- reading --------------------------------------------------------------------------------
def _load_json(path, what):
    if not path.is_file():
        raise DatasetError(f'{path}: missing ({what})')
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f'{path}: not JSON ({exc})') from None


def _load_jsonl(path, what):
    if not path.is_file():
        raise DatasetError(f'{path}: missing ({what})')
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise DatasetError(f'{path}: line {number} is not JSON ({exc})') from None
    return rows


def _read_parquet(path, columns=None):
    import pyarrow.parquet as pq
    if not path.is_file():
        raise DatasetError(f'{path}: missing')
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: B902 pyarrow raises several kinds for bad files
        raise DatasetError(f'{path}: unreadable parquet ({type(exc).__name__}: {exc})') from None
    for column in columns or ():
        if column not in table.column_names:
            raise DatasetError(f'{path}: no column "{column}" (has {table.column_names})')
    return table


def _column(table, name):
    col = table.column(name).combine_chunks()
    try:
        return np.asarray(col.to_numpy(zero_copy_only=False))
    except Exception:  # noqa: B902 nested lists
        return np.asarray(col.to_pylist())


def _vector(table, name, path):
    values = _column(table, name)
    if values.dtype == object:
        values = np.stack([np.asarray(v, np.float32) for v in values]) if len(values) else \
            np.zeros((0, 0), np.float32)
    values = np.asarray(values, np.float32)
    return values.reshape(len(values), -1)


def _field(info, name, path):
    if name not in info:
        raise DatasetError(f'{path}: no field "{name}"')
    return info[name]


class Dataset:
    """A LeRobot v3.0 / v2.x dataset on disk, checked; iterate it with .episodes()."""

    def __init__(self, root, camera=None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'{self.root}: no such dataset directory')
        info_path = self.root / 'meta/info.json'
        self.info = info = _load_json(info_path, 'the dataset description')
        self.version = str(_field(info, 'codebase_version', info_path))
        fps = _field(info, 'fps', info_path)
        if not isinstance(fps, (int, float)) or fps <= 0:
            raise DatasetError(f'{info_path}: field "fps" is {fps!r}, not a positive number')
        self.fps = fps
        self.features = _field(info, 'features', info_path)
        for name in ('observation.state', 'action'):
            if name not in self.features:
                raise DatasetError(f'{info_path}: "features" has no "{name}"')
            if 'shape' not in self.features[name]:
                raise DatasetError(f'{info_path}: features.{name} has no "shape"')
        self.state_dim = int(np.prod(self.features['observation.state']['shape']))
        self.action_dim = int(np.prod(self.features['action']['shape']))
        videos = [k for k, f in self.features.items() if f.get('dtype') == 'video']
        if camera is not None and camera not in videos:
            raise DatasetError(f'{info_path}: no video feature "{camera}" (has {videos})')
        if not videos:
            raise DatasetError(f'{info_path}: "features" has no video feature (dtype "video"); '
                               'the sleep trainer learns from camera frames')
        self.camera = camera or (COLOR_KEY if COLOR_KEY in videos else videos[0])
        self.modality = None
        if (self.root / 'meta/modality.json').exists():  # GR00T's flavour
            self.modality = _load_json(self.root / 'meta/modality.json', 'GR00T modality')
            self._check_modality()
        self.joint_names = self._joint_names()
        self.slices = self._state_slices()
        if self.version.startswith('v3'):
            self._open_v30()
        elif self.version.startswith('v2'):
            self._open_v2()
        else:
            raise DatasetError(f'{info_path}: codebase_version {self.version!r} is neither '
                               'v3.x nor v2.x')

    # -- layout checks -------------------------------------------------------------------
    def _check_modality(self):
        path = self.root / 'meta/modality.json'
        dims = {'state': self.state_dim, 'action': self.action_dim}
        vectors = {'state': 'observation.state', 'action': 'action'}
        for group, dim in dims.items():
            parts = self.modality.get(group)
            if parts is None:
                raise DatasetError(f'{path}: no "{group}" entry')
            for key, part in parts.items():
                start, end = part.get('start'), part.get('end')
                if not isinstance(start, int) or not isinstance(end, int) or \
                        not 0 <= start < end:
                    raise DatasetError(f'{path}: {group}.{key} has start {start!r}, end '
                                       f'{end!r}: not a slice 0 <= start < end')
                if end > dim:
                    raise DatasetError(
                        f'{path}: {group}.{key} slice [{start}, {end}) overruns '
                        f'{vectors[group]} ({dim} values in meta/info.json)')

    def _joint_names(self):
        names = self.features['action'].get('names')
        if isinstance(names, dict):  # older datasets: {"motors": [...]}
            names = next(iter(names.values()), None)
        if isinstance(names, list) and len(names) == self.action_dim and \
                all(isinstance(n, str) for n in names):
            return [n[:-4] if n.endswith('.pos') else n for n in names]
        return [f'joint{i}' for i in range(self.action_dim)]

    def _state_slices(self):
        """Return {joint_pos|joint_vel|joint_eff: index array into observation.state}."""
        j = self.action_dim
        names = self.features['observation.state'].get('names')
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            found = {}
            for part, suffix in (('joint_pos', 'pos'), ('joint_vel', 'vel'),
                                 ('joint_eff', 'effort')):
                wanted = [f'{n}.{suffix}' for n in self.joint_names]
                if all(w in names for w in wanted):
                    found[part] = np.array([names.index(w) for w in wanted])
            if 'joint_pos' in found:
                return found
        if self.modality:
            state = self.modality['state']
            if 'joint_pos' in state:
                return {k: np.arange(v['start'], v['end']) for k, v in state.items()
                        if k in ('joint_pos', 'joint_vel', 'joint_eff')
                        and v['end'] - v['start'] == j}
        if self.state_dim < j:
            raise DatasetError(f'{self.root / "meta/info.json"}: observation.state has '
                               f'{self.state_dim} values, fewer than the {j} joints of "action"')
        slices = {'joint_pos': np.arange(0, j)}
        if self.state_dim >= 2 * j:
            slices['joint_vel'] = np.arange(j, 2 * j)
        if self.state_dim >= 3 * j:
            slices['joint_eff'] = np.arange(2 * j, 3 * j)
        return slices

    def _open_v30(self):
        info_path = self.root / 'meta/info.json'
        self.data_path = _field(self.info, 'data_path', info_path)
        self.video_path = self.info.get('video_path')
        if self.camera and not self.video_path:
            raise DatasetError(f'{info_path}: video features but no field "video_path"')
        files = sorted((self.root / 'meta/episodes').glob('*/*.parquet'))
        if not files:
            raise DatasetError(f'{self.root / "meta/episodes"}: missing (no episodes parquet)')
        needed = ['episode_index', 'length', 'data/chunk_index', 'data/file_index']
        if self.camera:
            needed += [f'videos/{self.camera}/{k}' for k in
                       ('chunk_index', 'file_index', 'from_timestamp')]
        self.episode_rows = []
        for path in files:
            table = _read_parquet(path, needed)
            cols = {c: _column(table, c) for c in needed}
            tasks = _column(table, 'tasks') if 'tasks' in table.column_names else None
            for i in range(table.num_rows):
                row = {c: cols[c][i] for c in needed}
                row['task'] = (list(tasks[i])[0] if tasks is not None and len(tasks[i])
                               else None)
                self.episode_rows.append(row)
        self.episode_rows.sort(key=lambda r: int(r['episode_index']))
        self.tasks = {}
        tasks_path = self.root / 'meta/tasks.parquet'
        if tasks_path.exists():
            table = _read_parquet(tasks_path, ['task_index'])
            key = next((c for c in ('task', '__index_level_0__') if c in table.column_names),
                       None)
            if key is None:
                raise DatasetError(f'{tasks_path}: no column "task" (nor a pandas index)')
            self.tasks = dict(zip(_column(table, 'task_index').tolist(),
                                  _column(table, key).tolist()))

    def _open_v2(self):
        info_path = self.root / 'meta/info.json'
        self.data_path = _field(self.info, 'data_path', info_path)
        self.video_path = self.info.get('video_path')
        if self.camera and not self.video_path:
            raise DatasetError(f'{info_path}: video features but no field "video_path"')
        self.chunks_size = int(self.info.get('chunks_size', CHUNKS_SIZE))
        rows = _load_jsonl(self.root / 'meta/episodes.jsonl', 'the episode list')
        for number, row in enumerate(rows, 1):
            for name in ('episode_index', 'length'):
                if name not in row:
                    raise DatasetError(f'{self.root / "meta/episodes.jsonl"}: line {number} has '
                                       f'no field "{name}"')
        self.episode_rows = sorted(rows, key=lambda r: int(r['episode_index']))
        self.tasks = {}
        tasks_path = self.root / 'meta/tasks.jsonl'
        if tasks_path.exists():
            self.tasks = {int(r['task_index']): r['task']
                          for r in _load_jsonl(tasks_path, 'the task list')}

    # -- episodes ------------------------------------------------------------------------
    def __len__(self):
        return len(self.episode_rows)

    def episodes(self):
        """Yield EpisodeData (state as [pos, vel, eff] of the joints) in episode order."""
        cache = {}
        cursors = {}
        for row in self.episode_rows:
            e = int(row['episode_index'])
            if self.version.startswith('v3'):
                path = self.root / self.data_path.format(
                    chunk_index=int(row['data/chunk_index']),
                    file_index=int(row['data/file_index']))
            else:
                path = self.root / self.data_path.format(
                    episode_chunk=e // self.chunks_size, episode_index=e)
            if path not in cache:
                cache.clear()
                cache[path] = _read_parquet(path, REQUIRED_COLUMNS)
            table = cache[path]
            data = self._episode_columns(table, e, path)
            n = len(data['action'])
            if n != int(row['length']):
                raise DatasetError(f'{path}: {n} rows of episode_index {e}, its metadata says '
                                   f'length {int(row["length"])}')
            frames = {}
            if self.camera:
                frames[self.camera] = self._frames(row, e, n, path, cursors)
            task = row.get('task')
            if task is None and data['task_index'] is not None:
                task = self.tasks.get(int(data['task_index'][0]))
            yield EpisodeData(index=e, state=self._state(data['state']), action=data['action'],
                              frames=frames, task=task or '')

    def _episode_columns(self, table, e, path):
        episode = _column(table, 'episode_index').astype(np.int64)
        rows = np.nonzero(episode == e)[0]
        sub = table.take(rows)
        state = _vector(sub, 'observation.state', path)
        action = _vector(sub, 'action', path)
        if state.shape[1] != self.state_dim:
            raise DatasetError(f'{path}: column "observation.state" has {state.shape[1]} values, '
                               f'meta/info.json says {self.state_dim}')
        if action.shape[1] != self.action_dim:
            raise DatasetError(f'{path}: column "action" has {action.shape[1]} values, '
                               f'meta/info.json says {self.action_dim}')
        timestamps = _column(sub, 'timestamp').astype(np.float64)
        frame_index = _column(sub, 'frame_index').astype(np.int64)
        order = np.argsort(frame_index, kind='stable')
        timestamps, frame_index = timestamps[order], frame_index[order]
        expected = frame_index / self.fps
        offset = timestamps[0] - expected[0] if len(timestamps) else 0.0
        error = np.abs(timestamps - offset - expected)
        if len(error) and error.max() > TIMESTAMP_TOLERANCE_S:
            i = int(error.argmax())
            raise DatasetError(
                f'{path}: column "timestamp" of episode {e} does not advance at meta/info.json '
                f'fps={self.fps} (frame_index {frame_index[i]}: {timestamps[i]:.6f} s, expected '
                f'{expected[i] + offset:.6f} s)')
        task_index = _column(sub, 'task_index')[order] if 'task_index' in sub.column_names \
            else None
        return {'state': state[order], 'action': action[order], 'task_index': task_index}

    def _state(self, state):
        n = len(state)
        j = self.action_dim
        parts = [state[:, self.slices[k]] if k in self.slices else np.zeros((n, j), np.float32)
                 for k in ('joint_pos', 'joint_vel', 'joint_eff')]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _frames(self, row, e, n, data_path, cursors):
        key = self.camera
        if self.version.startswith('v3'):
            path = self.root / self.video_path.format(
                video_key=key, chunk_index=int(row[f'videos/{key}/chunk_index']),
                file_index=int(row[f'videos/{key}/file_index']))
            start = int(round(float(row[f'videos/{key}/from_timestamp']) * self.fps))
        else:
            path = self.root / self.video_path.format(
                episode_chunk=e // self.chunks_size, episode_index=e, video_key=key)
            start = 0
        if not path.is_file():
            raise DatasetError(f'{path}: missing (video {key} of episode {e})')
        cursor = cursors.get(path)
        if cursor is None or cursor.position > start:
            for old in cursors.values():
                old.close()
            cursors.clear()
            cursor = cursors[path] = read_frames_from(path, self.fps)
        frames = cursor.take(start, n)
        if len(frames) < n:
            raise DatasetError(f'{path}: video {key} has {len(frames)} frames for episode {e} '
                               f'from {start / self.fps:.3f} s; the episode has {n} rows in '
                               f'{data_path}')
        return np.stack(frames)
