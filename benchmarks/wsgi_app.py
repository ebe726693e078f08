"""The benchmark's WSGI app: one view, with or without one publish (env BENCH_PUBLISH)."""
import os
import sys

sys.modules.setdefault('bjdata', None)


def main():
    from pyramid.config import Configurator
    from waitress import create_server
    publish = os.environ['BENCH_PUBLISH'] == '1'
    config = Configurator(settings={'livehub.router_url': os.environ['BENCH_ROUTER_URL'],
                                    'livehub.publish_linger': os.environ.get('BENCH_LINGER', '0'),
                                    'livehub.serializer': os.environ.get('BENCH_SERIALIZER',
                                                                         'json'),
                                    'livehub.queue_size': '1000000'})
    config.include('pyramid_livehub')

    def view(request):
        order = {'id': 42, 'total': '9.90', 'items': [1, 2, 3]}
        if publish:
            request.livehub.publish('bench.orders.created', order)
        return order

    config.add_route('home', '/')
    config.add_view(view, route_name='home', renderer='json')
    app = config.make_wsgi_app()
    server = create_server(app, host='127.0.0.1', port=int(os.environ['BENCH_PORT']), threads=4)
    print('READY', flush=True)
    server.run()


if __name__ == '__main__':
    main()
