/* Photos for a draft (ADR 0009): a phone photo of 8–12 MB would be refused by the server (≤ 10
 * MB) only after the visit is stored, and fills the device's storage while it waits. So a photo
 * larger than MAX_BYTES, or with a side longer than MAX_SIDE, is redrawn on a canvas at most
 * MAX_SIDE pixels long and kept as a JPEG (quality 0.85); smaller photos are kept as they are.
 * If the browser cannot decode the file, the original is kept (the server will judge it).
 * Loaded by the capture pages before capture.js, as window.WenxuPhotos.
 */
(function () {
  "use strict";
  var MAX_BYTES = 2 * 1024 * 1024;
  var MAX_SIDE = 2560;
  var QUALITY = 0.85;

  function original(file) {
    return { blob: file, name: file.name || "photo.jpg", type: file.type, size: file.size };
  }

  function decode(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).catch(function () {
        return createImageBitmap(file);
      });
    }
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        URL.revokeObjectURL(url);
        resolve(img);
      };
      img.onerror = function () {
        URL.revokeObjectURL(url);
        reject(new Error("undecodable"));
      };
      img.src = url;
    });
  }

  function jpegName(name) {
    var base = (name || "photo").replace(/\.[^.\/]*$/, "");
    return (base || "photo") + ".jpg";
  }

  /* → Promise of {blob, name, type, size}: the file itself, or a smaller JPEG of it. */
  function prepare(file) {
    if (!/^image\//.test(file.type || "") || !document.createElement("canvas").getContext) {
      return Promise.resolve(original(file));
    }
    return decode(file)
      .then(function (image) {
        var width = image.width;
        var height = image.height;
        var longest = Math.max(width, height);
        if (file.size <= MAX_BYTES && longest <= MAX_SIDE) {
          if (image.close) {
            image.close();
          }
          return original(file);
        }
        var scale = Math.min(1, MAX_SIDE / longest);
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(width * scale));
        canvas.height = Math.max(1, Math.round(height * scale));
        var context = canvas.getContext("2d");
        context.fillStyle = "#fff"; // a transparent PNG becomes white, not black
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        if (image.close) {
          image.close();
        }
        return new Promise(function (resolve) {
          canvas.toBlob(
            function (blob) {
              if (!blob || (blob.size >= file.size && scale === 1)) {
                resolve(original(file));
                return;
              }
              resolve({ blob: blob, name: jpegName(file.name), type: "image/jpeg", size: blob.size });
            },
            "image/jpeg",
            QUALITY
          );
        });
      })
      .catch(function () {
        return original(file);
      });
  }

  window.WenxuPhotos = { prepare: prepare, MAX_BYTES: MAX_BYTES, MAX_SIDE: MAX_SIDE };
})();
