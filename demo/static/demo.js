// The demo's only script: post the form without leaving the page, and count
// the events this tab has seen.  The widgets themselves need no JS here.
document.addEventListener('DOMContentLoaded', function () {
    var seen = 0;
    var counter = document.getElementById('events-seen');
    document.addEventListener('livehub:update', function () {
        seen += 1;
        counter.textContent = String(seen);
    });

    var form = document.getElementById('post-form');
    var text = document.getElementById('text');
    var error = document.getElementById('post-error');
    form.addEventListener('submit', function (event) {
        event.preventDefault();
        fetch(form.action, {
            method: 'POST',
            body: new FormData(form),
            headers: {'Accept': 'application/json'},
            credentials: 'same-origin'
        }).then(function (response) {
            return response.json().then(function (body) {
                error.textContent = body.error || '';
                if (response.ok) {
                    text.value = '';
                    text.focus();
                }
            });
        }).catch(function (err) {
            error.textContent = 'Could not post: ' + err.message;
        });
    });
});
