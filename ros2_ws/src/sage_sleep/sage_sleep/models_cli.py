# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_models`: create, list, verify and roll back model versions in the registry.

    sage_models init [--seed 0] [--num-joints 2]   first versions, deterministic from the seed
    sage_models list                              every version, the active one starred
    sage_models verify [NAME [VERSION]]           re-check hashes and ONNX shapes
    sage_models activate NAME VERSION             deploy or roll back to a version
"""

import argparse
from pathlib import Path
import sys

from sage_common.registry import default_model_dir, ModelError, ModelRegistry

MODEL_NAMES = ('encoder', 'h_module', 'l_module')


def init_models(registry, seed=0, num_joints=2, force=False, log=print):
    """Publish and activate the first version of every model that has none (or all: force)."""
    from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module
    from sage_perception.encoder import publish_initial_encoder

    makers = {
        'encoder': lambda: publish_initial_encoder(registry, seed=seed, num_joints=num_joints),
        'h_module': lambda: publish_initial_h_module(registry, seed=seed),
        'l_module': lambda: publish_initial_l_module(registry, seed=seed, num_joints=num_joints),
    }
    created = {}
    for name in MODEL_NAMES:
        if registry.versions(name) and not force:
            log(f'{name}: has {registry.active(name)} already (use --force for a new version)')
            continue
        version = makers[name]()
        registry.set_active(name, version.version)
        created[name] = version.version
        log(f'{name}: created {version.version} from seed {seed}')
    return created


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_models',
                                     description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--model-dir', type=Path, default=default_model_dir())
    sub = parser.add_subparsers(dest='command', required=True)
    p_init = sub.add_parser('init', help='create the first versions from a seed')
    p_init.add_argument('--seed', type=int, default=0)
    p_init.add_argument('--num-joints', type=int, default=2)
    p_init.add_argument('--force', action='store_true', help='new versions even if some exist')
    sub.add_parser('list', help='list versions')
    p_verify = sub.add_parser('verify', help='verify hashes and shapes')
    p_verify.add_argument('name', nargs='?')
    p_verify.add_argument('version', nargs='?')
    p_act = sub.add_parser('activate', help='deploy or roll back to a version')
    p_act.add_argument('name')
    p_act.add_argument('version')
    args = parser.parse_args(argv)
    registry = ModelRegistry(args.model_dir)
    try:
        if args.command == 'init':
            init_models(registry, args.seed, args.num_joints, args.force)
        elif args.command == 'list':
            for name in registry.names():
                active = registry.active(name)
                for version in registry.versions(name):
                    manifest = registry.load(name, version, verify=False).manifest
                    star = '*' if version == active else ' '
                    print(f'{star} {name:10s} {version}  created {manifest["created"][:19]}  '
                          f'parent {manifest.get("parent") or "-"}')
        elif args.command == 'verify':
            names = [args.name] if args.name else registry.names()
            for name in names:
                versions = [args.version] if args.version else registry.versions(name)
                for version in versions:
                    registry.load(name, version)
                    print(f'ok {name} {version}')
        elif args.command == 'activate':
            registry.set_active(args.name, args.version)
            print(f'{args.name}: active version is now {args.version}')
    except ModelError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
