import os

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, 'README.md'), encoding='utf-8') as fh:
    README = fh.read()

# What a web process needs to publish, render widgets and serve livehub.js.
# Plain autobahn (asyncio) is enough: msgpack and cbor come with it.
requires = [
    'prometheus_client>=0.17',  # the /livehub/metrics text format (pyramid_livehub.metrics)
    'pyramid>=2.0',
    'autobahn>=23.1',
    'txaio>=23.1',
    'chameleon>=4',
    'pyramid_chameleon>=0.3',
    'transaction>=3.0',
]

# The router host: `livehub router` (crossbar) and the broker bridges.
router_requires = [
    'crossbar>=23.1',
    'autobahn[twisted]>=23.1',
    'pyzmq>=25',
    'pika>=1.3',
    'paho-mqtt>=2.0',
    'stomp.py>=8.1',
    'redis>=5',  # the history store in Redis (streams)
    # crossbar pulls autobahn's bjdata serializer, whose C extension is built
    # against NumPy 1.x (oldest-supported-numpy) and prints a traceback under 2.x.
    'numpy<2; python_version < "3.13"',
]

tests_require = [
    'webtest>=3',
    'pytest>=7',
    'pytest-timeout>=2',
    'pyramid_tm>=2.5',
    'zope.sqlalchemy>=2',
    'sqlalchemy>=2',
    'psycopg2-binary>=2.9',
    'playwright>=1.40',
    'waitress>=2',
    'mypy>=1.10',      # `make test` type-checks the package first (mypy.ini)
]

# The docs site (`make docs`); the test extra includes it because the suite
# builds the docs with warnings as errors.  myst-parser: CHANGES.md is Markdown.
docs_require = [
    'sphinx>=7.4',
    'furo>=2024.1',
    'myst-parser>=3',
]

setup(
    name='pyramid_livehub',
    version='0.1.dev0',
    description='Real-time Pyramid: publish WAMP events from views into a bundled '
                'Crossbar.io router, bridge AMQP/MQTT/ZeroMQ/STOMP, live widgets',
    long_description=README,
    long_description_content_type='text/markdown',
    classifiers=[
        'Framework :: Pyramid',
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: MIT License',
    ],
    license='MIT',
    packages=find_packages(exclude=['tests', 'tests.*', 'benchmarks', 'benchmarks.*', 'demo', 'demo.*']),
    include_package_data=True,
    zip_safe=False,
    python_requires='>=3.10',
    install_requires=requires,
    extras_require={'router': router_requires, 'docs': docs_require, 'bench': ['matplotlib'],
                    'test': router_requires + tests_require + docs_require},
    entry_points={
        'console_scripts': ['livehub = pyramid_livehub.cli:main'],
    },
)
