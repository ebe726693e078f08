"""The benchmark's WSGI app: one view, with or without one publish (env BENCH_PUBLISH)."""
import os
import sys

sys.modules.setdefault('bjdata', None)


def main():
    import logging
    from pyramid.config import Configurator
    # wrk keeps 8 requests in flight for 4 threads, so waitress warns "Task
    # queue depth is N" for most requests (~20-30 us each in its main
    # thread): the slower variant queues more and pays more, which measured
    # waitress's logging, not the publish (a view with 15 us more plain
    # Python work fell to ~0.76 of the baseline with the warnings, ~0.96 without).
    logging.getLogger('waitress.queue').setLevel(logging.ERROR)
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
