# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The versioned model registry under `models/`.

Layout::

    models/<name>/<version>/manifest.json   version, sha256 of each file, I/O names and shapes,
                                            creation time, parent version, free-form metadata
    models/<name>/<version>/<files>         model.onnx (and variants), weights.pt, ...
    models/<name>/ACTIVE                    the deployed version (one line)

Versions are `v0001`, `v0002`, ... so they sort by age. A version is published atomically:
written into a hidden staging directory, verified, then renamed into place, so a reader never
sees half a version. Weights are only ever loaded without executing code (ONNX protobufs or
`torch.load(weights_only=True)`); loading verifies every hash and, for ONNX files, that the
graph's inputs and outputs match the manifest.
"""

import datetime
import hashlib
import json
import os
from pathlib import Path
import re
import shutil
import tempfile

MANIFEST = 'manifest.json'
ACTIVE = 'ACTIVE'
# The ONNX file of each precision inside a version (the H- and L-modules publish all three).
PRECISION_FILES = {'fp32': 'model.onnx', 'fp16': 'model_fp16.onnx', 'int8': 'model_int8.onnx'}
VERSION_RE = re.compile(r'^v(\d{4,})$')


def default_model_dir():
    """Return the registry nodes and tools use: $SAGE_MODEL_DIR, $SAGE_ROOT/models, ./models."""
    if os.environ.get('SAGE_MODEL_DIR'):
        return Path(os.environ['SAGE_MODEL_DIR'])
    return Path(os.environ.get('SAGE_ROOT', '.')) / 'models'


class ModelError(Exception):
    """A model version that is missing, incomplete, tampered with or of the wrong shape."""


def sha256_file(path, chunk=1 << 20):
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def tensor_spec(name, shape, dtype='float32'):
    """Describe one model input or output: shape entries are ints or names of dynamic axes."""
    return {'name': name, 'shape': list(shape), 'dtype': dtype}


class ModelVersion:
    """One verified version on disk: its directory and manifest."""

    def __init__(self, directory, manifest):
        self.directory = Path(directory)
        self.manifest = manifest

    @property
    def name(self):
        return self.manifest['name']

    @property
    def version(self):
        return self.manifest['version']

    @property
    def metadata(self):
        return self.manifest.get('metadata', {})

    def path(self, filename):
        """Return the path of one of the version's files (which must be in the manifest)."""
        if filename not in self.manifest['files']:
            raise ModelError(f'{self.name} {self.version} has no file {filename!r}')
        return self.directory / filename

    def __repr__(self):
        return f'ModelVersion({self.name!r}, {self.version!r})'


class ModelRegistry:
    """Read, verify, publish and activate model versions under one root directory."""

    def __init__(self, root):
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------
    def names(self):
        """Return the model names that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name):
        """Return the published versions of a model, oldest first."""
        base = self.root / name
        if not base.is_dir():
            return []
        found = [p.name for p in base.iterdir()
                 if p.is_dir() and VERSION_RE.match(p.name) and (p / MANIFEST).is_file()]
        return sorted(found, key=lambda v: int(VERSION_RE.match(v).group(1)))

    def active(self, name):
        """Return the deployed version of a model, else its newest, else None."""
        marker = self.root / name / ACTIVE
        if marker.is_file():
            version = marker.read_text().strip()
            if version:
                return version
        versions = self.versions(name)
        return versions[-1] if versions else None

    def load(self, name, version=None, verify=True):
        """
        Return the ModelVersion `version` (default: active), verified against its manifest.

        Raises ModelError with a message saying what is wrong.
        """
        version = version or self.active(name)
        if version is None:
            raise ModelError(f'no version of model {name!r} in {self.root} '
                             f'(create one with `sage_models init`)')
        directory = self.root / name / version
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise ModelError(f'{name} {version}: no {MANIFEST} in {directory}')
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f'{name} {version}: unreadable manifest: {exc}')
        for key in ('name', 'version', 'files', 'inputs', 'outputs'):
            if key not in manifest:
                raise ModelError(f'{name} {version}: manifest lacks {key!r}')
        if manifest['name'] != name or manifest['version'] != version:
            raise ModelError(f'{name} {version}: manifest says {manifest["name"]} '
                             f'{manifest["version"]}')
        model = ModelVersion(directory, manifest)
        if verify:
            self._verify(model)
        return model

    def _verify(self, model):
        for filename, expected in model.manifest['files'].items():
            path = model.directory / filename
            if not path.is_file():
                raise ModelError(f'{model.name} {model.version}: missing file {filename}')
            actual = sha256_file(path)
            if actual != expected:
                raise ModelError(f'{model.name} {model.version}: sha256 mismatch for {filename} '
                                 f'(manifest {expected[:12]}, file {actual[:12]})')
            if filename.endswith('.onnx'):
                check_onnx_io(path, model.manifest['inputs'], model.manifest['outputs'],
                              f'{model.name} {model.version} {filename}')

    # -- writing ---------------------------------------------------------------------------
    def publish(self, name, files, inputs, outputs, parent=None, metadata=None, activate=False):
        """
        Publish a new version atomically and return its ModelVersion.

        files maps a filename to a source path or to bytes. The version is verified in its
        staging directory before it is renamed into place.
        """
        base = self.root / name
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix='.staging-', dir=base))
        try:
            hashes = {}
            for filename, source in files.items():
                target = staging / filename
                if isinstance(source, (bytes, bytearray)):
                    target.write_bytes(source)
                else:
                    shutil.copyfile(source, target)
                hashes[filename] = sha256_file(target)
            manifest = {
                'name': name,
                'version': None,
                'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
                'parent': parent,
                'files': hashes,
                'inputs': inputs,
                'outputs': outputs,
                'metadata': metadata or {},
            }
            for _ in range(1000):
                existing = self.versions(name)
                number = int(VERSION_RE.match(existing[-1]).group(1)) + 1 if existing else 1
                version = f'v{number:04d}'
                manifest['version'] = version
                _write_json_durable(staging / MANIFEST, manifest)
                self._verify(ModelVersion(staging, manifest))
                try:
                    os.rename(staging, base / version)
                except OSError:
                    if (base / version).exists():
                        continue  # another writer took this number: try the next
                    raise
                _fsync_dir(base)
                break
            else:
                raise ModelError(f'could not allocate a version for {name}')
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if activate:
            self.set_active(name, version)
        return self.load(name, version)

    def set_active(self, name, version):
        """Deploy (or roll back to) a version: atomically rewrite the ACTIVE marker."""
        self.load(name, version)  # refuse to activate something that does not verify
        marker = self.root / name / ACTIVE
        tmp = marker.with_name(f'.{ACTIVE}.{os.getpid()}.tmp')
        tmp.write_text(version + '\n')
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp, marker)
        _fsync_dir(marker.parent)

    def clean_staging(self):
        """Remove staging directories left by a writer that was killed."""
        removed = 0
        for staging in self.root.glob('*/.staging-*'):
            shutil.rmtree(staging, ignore_errors=True)
            removed += 1
        return removed


def check_onnx_io(path, inputs, outputs, what):
    """Raise ModelError unless the ONNX graph's I/O names and static dims match the specs."""
    import onnx  # imported lazily: reading a manifest must not need onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise ModelError(f'{what}: not a readable ONNX model: {exc}')
    initializers = {init.name for init in graph.initializer}
    actual = {
        'input': {v.name: v for v in graph.input if v.name not in initializers},
        'output': {v.name: v for v in graph.output},
    }
    for kind, specs in (('input', inputs), ('output', outputs)):
        if sorted(actual[kind]) != sorted(s['name'] for s in specs):
            raise ModelError(f'{what}: {kind}s {sorted(actual[kind])} do not match manifest '
                             f'{sorted(s["name"] for s in specs)}')
        for spec in specs:
            dims = actual[kind][spec['name']].type.tensor_type.shape.dim
            if len(dims) != len(spec['shape']):
                raise ModelError(f'{what}: {kind} {spec["name"]} has rank {len(dims)}, manifest '
                                 f'says {spec["shape"]}')
            for dim, want in zip(dims, spec['shape']):
                if isinstance(want, int) and dim.HasField('dim_value') and dim.dim_value != want:
                    got = [d.dim_value if d.HasField('dim_value') else d.dim_param for d in dims]
                    raise ModelError(f'{what}: {kind} {spec["name"]} has shape {got}, manifest '
                                     f'says {spec["shape"]}')


def _write_json_durable(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
