/* Planktos install script after `planktos build --uninstall`: registers nothing and removes
 * any Planktos service worker still registered, so pages that keep the script tag load as a
 * plain site.
 */
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.getRegistrations().then(function (registrations) {
    registrations.forEach(function (registration) {
      var worker = registration.active || registration.waiting || registration.installing;
      if (worker && /\/planktos\.sw\.js$/.test(new URL(worker.scriptURL).pathname)) {
        registration.unregister();
      }
    });
  }).catch(function () {});
})();
