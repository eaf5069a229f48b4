window.twttr=window.twttr||{widgets:{load:function(){}}};
