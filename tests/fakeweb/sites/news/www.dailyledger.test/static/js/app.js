document.documentElement.classList.add('js');
window.dl=window.dl||{};dl.track=function(e){/* analytics stub */};
