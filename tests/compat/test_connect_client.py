"""The platform's own Python client, connect-openapi-client, against tokendesk, unchanged."""

import pytest
from connect.client import ClientError, R


def tokens(client):
    return client.ns('auth').collection('tokens')


def test_collections_count_and_iterate(client):
    assert client.agreements.all().count() == 5
    assert len(list(client.agreements.all())) == 5
    # 12 demo tokens and the admin token.
    assert tokens(client).all().count() == 13


def test_iteration_follows_content_range_across_pages(server, admin_key):
    small_pages = server.client(admin_key, default_limit=5)
    names = [t['name'] for t in tokens(small_pages).all()]
    assert len(names) == 13
    assert len(set(names)) == 13


def test_filter_with_keywords(client):
    inactive = {t['name'] for t in tokens(client).filter(status='inactive')}
    assert inactive == {
        'Legacy billing bridge', 'Flowgear catalog import', 'Zapier lead capture', 'Quarterly audit reports',
    }
    zapier = tokens(client).filter(extension__name='zapier', status='active')
    assert {t['name'] for t in zapier} == {'Zapier helpdesk alerts', 'Zapier usage digest'}
    assert tokens(client).filter(name__like='*Flowgear*').count() == 2
    # The demo's expired trial, the customer portal expiring in five days, the deployment hook's 90 days.
    assert tokens(client).filter(expiration_date__null=False).count() == 3
    assert client.agreements.filter(active=False).count() == 1


def test_filter_with_r_expressions(client):
    query = R().extension.name.eq('reports') | R().name.ilike('*PORTAL*')
    assert {t['name'] for t in tokens(client).filter(query)} == {
        'Monthly revenue reports', 'Quarterly audit reports', 'Customer portal',
    }
    not_custom = tokens(client).filter(~R().extension.id.eq('EXT-000') & R().status.eq('active'))
    assert {t['extension']['id'] for t in not_custom} <= {'EXT-001', 'EXT-002', 'EXT-003'}
    assert tokens(client).filter(R().status.in_(['expired'])).count() == 1
    assert tokens(client).filter(R().permissions.object.id.eq('MD-0023')).count() == 1


def test_order_by_and_search(client):
    names = [t['name'] for t in tokens(client).all().order_by('-name')]
    assert names == sorted(names, key=str.lower, reverse=True)
    titles = [a['title'] for a in client.agreements.all().order_by('title')]
    assert titles == sorted(titles)
    assert [t['name'] for t in tokens(client).all().search('usage digest')] == ['Zapier usage digest']


def test_slicing_and_first(client):
    ordered = tokens(client).all().order_by('name')
    everything = [t['name'] for t in ordered]
    assert [t['name'] for t in ordered[2:5]] == everything[2:5]
    assert ordered.first()['name'] == everything[0]


def test_resource_get(client):
    first = client.agreements.all().order_by('title').first()
    fetched = client.agreements[first['id']].get()
    assert fetched['title'] == first['title']
    assert fetched['owner']['name'] == 'Front Street Inc'
    assert client.get('auth/context')['account']['name'] == 'Front Street Inc'


def test_create_update_action_delete(server, client):
    created = tokens(client).create({
        'name': 'Created by connect-openapi-client',
        'description': 'Compatibility test',
        'extension': {'id': 'EXT-001'},
        'permissions': [{'object': {'id': 'MD-0002'}}],
    })
    key = created['token']
    assert key.startswith(created['id'] + ':')
    resource = tokens(client).resource(created['id'])
    assert resource.get()['extension'] == {'id': 'EXT-001', 'name': 'flowgear'}

    updated = resource.update({'name': 'Renamed by the client', 'external_id': 'PY-1'})
    assert (updated['name'], updated['external_id']) == ('Renamed by the client', 'PY-1')

    own = server.client(key)
    assert own.agreements.all().count() == 5
    assert resource.action('deactivate').post()['status'] == 'inactive'
    with pytest.raises(ClientError) as refused:
        own.agreements.all().count()
    assert refused.value.status_code == 401
    assert resource.action('activate').post()['status'] == 'active'
    assert own.agreements.all().count() == 5

    resource.delete()
    with pytest.raises(ClientError) as gone:
        resource.get()
    assert gone.value.status_code == 404
    with pytest.raises(ClientError) as deleted:
        own.agreements.all().count()
    assert deleted.value.status_code == 401


def test_renew_and_rotate(server, client):
    created = tokens(client).create({
        'name': 'Renewed by the client', 'description': 'Compatibility test',
        'extension': {'name': 'custom'}, 'permissions': [{'object': {'id': 'MD-0002'}}],
    })
    old = server.client(created['token'])
    resource = tokens(client).resource(created['id'])

    renewed = resource.action('renew').post({'expiration_date': '2099-06-30'})
    assert renewed['id'] == created['id']
    assert renewed['token'] != created['token'] and renewed['token'].startswith(created['id'] + ':')
    assert renewed['expiration_date'].startswith('2099-06-30')
    assert renewed['renewed_expiration_date'] is not None
    assert old.agreements.all().count() == 5, 'the old key works for a while yet'
    assert server.client(renewed['token']).agreements.all().count() == 5

    rotated = resource.action('rotate').post({'expiration_date': None})
    assert rotated['renewed_expiration_date'] is None
    assert rotated['expiration_date'] is None
    with pytest.raises(ClientError) as stopped:
        server.client(renewed['token']).agreements.all().count()
    assert stopped.value.status_code == 401
    assert server.client(rotated['token']).agreements.all().count() == 5


def test_permissions_subcollection(server, client):
    created = tokens(client).create({
        'name': 'Permissions target', 'description': 'Compatibility test', 'extension': {'name': 'zapier'},
        'permissions': [{'object': {'id': 'MD-0013'}}],
    })
    permissions = tokens(client).resource(created['id']).collection('permissions')
    assert [p['object']['id'] for p in permissions.all()] == ['MD-0013']
    added = permissions.create({'object': {'id': 'MD-0002'}})
    assert [p['object']['id'] for p in added] == ['MD-0002', 'MD-0013']
    path = f"auth/tokens/{created['id']}/permissions"
    client.create(path, payload=[{'object': {'id': 'MD-0001'}}, {'object': {'id': 'MD-0013'}}])
    assert sorted(p['object']['id'] for p in permissions.all()) == ['MD-0001', 'MD-0002', 'MD-0013']
    assert permissions.all().count() == 3
    client.delete(path, payload=[{'object': {'id': 'MD-0001'}}])
    assert sorted(p['object']['id'] for p in permissions.all()) == ['MD-0002', 'MD-0013']
    with pytest.raises(ClientError) as last:
        client.delete(path, payload=[{'object': {'id': 'MD-0002'}}, {'object': {'id': 'MD-0013'}}])
    # The token as it is refuses it: a conflict, with the rule in words.
    assert last.value.status_code == 409
    assert 'at least one module' in str(last.value)
    assert sorted(p['object']['id'] for p in permissions.all()) == ['MD-0002', 'MD-0013']

    own = server.client(created['token'])
    assert own.agreements.all().count() == 5
    with pytest.raises(ClientError) as forbidden:
        own.accounts.all().count()
    assert forbidden.value.status_code == 403
    assert forbidden.value.error_code == 'AUTH_006'


def test_client_errors(server, client):
    with pytest.raises(ClientError) as unknown:
        server.client('SU-000-000-000:' + '0' * 40).agreements.all().count()
    assert unknown.value.status_code == 401
    assert unknown.value.error_code.startswith('AUTH_')
    assert unknown.value.errors

    narrow = server.create_token('Helpdesk only', modules='MD-0023')
    with pytest.raises(ClientError) as forbidden:
        server.client(narrow).agreements.all().count()
    assert forbidden.value.status_code == 403

    with pytest.raises(ClientError) as bad:
        tokens(client).filter(R().no_such_field.eq('x')).count()
    assert bad.value.status_code == 400
    assert 'no_such_field' in bad.value.errors[0]

    with pytest.raises(ClientError) as invalid:
        tokens(client).create({'name': '', 'description': 'x', 'extension': {'name': 'custom'}})
    assert invalid.value.status_code == 400
    assert invalid.value.errors == [
        'name: Name is required',
        'permissions: a token must hold at least one module, or All Modules',
    ]
