console.log("saas");
