"""The seed page's Python `requests` examples, verbatim but for the instance URL and the token,
followed by a check of the minted JWT with PyJWT using nothing but the published JWKS."""

import os

import jwt  # PyJWT: an implementation independent of the service's own
import requests

BASE = os.environ["SEED_BASE_URL"]
TOKEN = os.environ["SEED_TOKEN"]

# --- Bearer: exchange, then call (seed: "Python example") ---
token_response = requests.post(
    f'{BASE}/api/auth/access-tokens/jwt',
    json={
        'access_token': TOKEN,
        'duration_seconds': 3600
    }
)
jwt_token = token_response.json()['jwt']

response = requests.get(
    f'{BASE}/api/catalog/entities',
    headers={'Authorization': f'Bearer {jwt_token}'}
)

print(response.json())
assert response.status_code == 200, response.status_code

# --- Basic (seed: "Using auth parameter (recommended)") ---
response = requests.get(
    f'{BASE}/api/catalog/entities',
    auth=('witboost', TOKEN)
)

print(response.json())
assert response.status_code == 200, response.status_code

# --- Independent verification with only the published keys ---
config = requests.get(f'{BASE}/.well-known/openid-configuration').json()
jwks = requests.get(f'{BASE}/.well-known/jwks.json').json()
header = jwt.get_unverified_header(jwt_token)
key = next(k for k in jwks['keys'] if k['kid'] == header['kid'])
claims = jwt.decode(
    jwt_token,
    key=jwt.PyJWK(key).key,
    algorithms=[key['alg']],
    issuer=config['issuer'],
    audience='witboost',  # the token service's default --audience
    options={'require': ['exp', 'iat', 'nbf', 'iss', 'aud', 'sub', 'jti']},
)
assert claims['sub'] == 'seed-bot@example.com', claims
assert claims['email'] == 'seed-bot@example.com', claims
assert claims['groups'] == ['platform-team'], claims
assert claims['exp'] - claims['iat'] == 3600, claims
assert claims['wbat']['name'] == 'seed-token', claims
assert header['alg'] in ('ES256', 'RS512'), header

tampered = jwt_token[:-4] + ('AAAA' if not jwt_token.endswith('AAAA') else 'BBBB')
try:
    jwt.decode(tampered, key=jwt.PyJWK(key).key, algorithms=[key['alg']], issuer=config['issuer'],
               audience='witboost')
    raise AssertionError('a tampered JWT verified')
except jwt.InvalidTokenError:
    pass
print('python examples and independent JWKS verification: ok')
