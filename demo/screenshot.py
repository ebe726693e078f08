"""Regenerate docs/demo.png: the demo dashboard in headless Chromium after a few posts.

    python -m demo.screenshot http://127.0.0.1:6543/ [docs/demo.png]

(with ``make demo`` running in another terminal).
"""
import sys

from pyramid_livehub.testing import launch_chromium


def main(argv=None):
    """Post three messages from one tab, screenshot another."""
    from playwright.sync_api import sync_playwright
    argv = sys.argv[1:] if argv is None else argv
    url = argv[0] if argv else 'http://127.0.0.1:6543/'
    out = argv[1] if len(argv) > 1 else 'docs/demo.png'
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        viewer = browser.new_page(viewport={'width': 1100, 'height': 820})
        poster = browser.new_page()
        for page in (viewer, poster):
            page.goto(url)
            page.wait_for_function("livehub.state === 'connected'")
        viewer.wait_for_timeout(500)
        for author, text in [('ada', 'Hello from tab two!'),
                             ('grace', 'Every open tab got this without a reload.'),
                             ('mallory', '<script>alert("xss")</script> shows as text')]:
            poster.fill('#author', author)
            poster.fill('#text', text)
            poster.click('button[type=submit]')
            viewer.wait_for_function('(t) => document.querySelector("#messages").textContent'
                                     '.includes(t)', arg=text)
        for widget in ('#clock', '#sensor'):
            viewer.wait_for_function("(w) => document.querySelector(w).textContent !== '\u2014'",
                                     arg=widget, timeout=10000)
        viewer.wait_for_timeout(1200)  # let the highlight animation fade
        viewer.screenshot(path=out, full_page=True)
        browser.close()
    print('wrote', out)


if __name__ == '__main__':
    main()
