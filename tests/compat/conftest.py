"""Starts a real tokendesk server per database backend for the compatibility tests.

The binary is TOKENDESK_BIN (default: target/debug/tokendesk of this checkout). Each backend gets a
fresh database: a SQLite file in a temporary folder, or a new database on the PostgreSQL server
named by TOKENDESK_TEST_POSTGRES.
"""

import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from connect.client import ConnectClient

ROOT = Path(__file__).resolve().parents[2]
BINARY = os.environ.get('TOKENDESK_BIN', str(ROOT / 'target' / 'debug' / 'tokendesk'))
POSTGRES = os.environ.get(
    'TOKENDESK_TEST_POSTGRES',
    'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&gssencmode=disable',
)


def _postgres_database():
    name = f'tokendesk_compat_{uuid.uuid4().hex}'
    subprocess.run(['psql', POSTGRES, '-qc', f'CREATE DATABASE {name}'], check=True)
    parts = urlsplit(POSTGRES)
    return name, urlunsplit(parts._replace(path=f'/{name}'))


def _drop_postgres_database(name):
    subprocess.run(['psql', POSTGRES, '-qc', f'DROP DATABASE IF EXISTS {name} WITH (FORCE)'], check=False)


class Server:
    def __init__(self, folder, database_url):
        self.env = {
            'PATH': os.environ.get('PATH', ''),
            'DATABASE_URL': database_url,
            'TOKENDESK_BIND': '127.0.0.1:0',
            'RUST_LOG': 'warn',
        }
        self.folder = folder
        self.process = subprocess.Popen(
            [BINARY, 'serve', '--demo'],
            cwd=folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 60
        self.base = None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            found = re.search(r'http://[^/\s]+', line)
            if found:
                self.base = found.group(0)
            if line.startswith('This password is shown only this once'):
                break
        if self.base is None:
            self.stop()
            raise RuntimeError('the server did not start')
        self.endpoint = f'{self.base}/public/v1'

    def create_token(self, name, modules='all', extension='custom'):
        result = subprocess.run(
            [BINARY, 'token', 'create', '--account', 'Front Street Inc', '--name', name,
             '--modules', modules, '--extension', extension],
            cwd=self.folder, env=self.env, capture_output=True, text=True, check=True,
        )
        return result.stdout.strip()

    def client(self, key, **options):
        return ConnectClient('ApiKey ' + key, endpoint=self.endpoint, use_specs=False, **options)

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope='module', params=['sqlite', 'postgres'])
def server(request):
    with tempfile.TemporaryDirectory() as folder:
        database = None
        if request.param == 'sqlite':
            url = str(Path(folder) / 'tokendesk.db')
        else:
            database, url = _postgres_database()
        running = Server(folder, url)
        try:
            yield running
        finally:
            running.stop()
            if database:
                _drop_postgres_database(database)


@pytest.fixture(scope='module')
def admin_key(server):
    return server.create_token('Compat admin')


@pytest.fixture
def client(server, admin_key):
    return server.client(admin_key)
