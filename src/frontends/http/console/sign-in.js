// The sign-in control: hidden until the server answers a call 401 (a server with no
// credentials never shows it), then a user and a password checked with the server. The
// password field is emptied after each try; the page shows only the user's name.

import { onSignInChange, signIn, signOut } from './api.js';

const $ = (id) => document.getElementById(id);

export function startSignIn() {
  const form = $('sign-in');
  const userField = $('sign-in-user');
  const passwordField = $('sign-in-password');
  const message = $('sign-in-message');
  const submit = $('sign-in-submit');

  onSignInChange((state) => {
    form.hidden = state.signedIn;
    $('signed-in').hidden = !state.signedIn;
    if (state.signedIn) {
      $('signed-in-as').textContent = state.user;
      message.textContent = '';
      return;
    }
    message.textContent = `The server asks who you are: ${state.message}`;
    (userField.value === '' ? userField : passwordField).focus();
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    message.textContent = 'signing in…';
    const password = passwordField.value;
    passwordField.value = '';
    void signIn(userField.value.trim(), password).then((r) => {
      submit.disabled = false;
      if (!r.ok) {
        message.textContent = `Not signed in: ${r.message}`;
        passwordField.focus();
      }
    });
  });

  // The token is only in memory: a reload forgets it, and everything read with it.
  $('sign-out').addEventListener('click', () => {
    signOut();
    location.reload();
  });
}
