// Floor 0: the least a request can cost on workerd, a worker that answers 204 without reading the body.
export default {
  fetch() {
    return new Response(null, { status: 204 });
  },
};
